"""Every `python -m <module> ...` example in a command's docstring (its --help) parses with
that command's own parser, without running anything."""
import importlib
import shlex

import pytest

COMMANDS = ("ppo.train", "ppo.export")


def examples(module: str) -> list[list[str]]:
    doc = importlib.import_module(module).__doc__
    found = []
    for text in doc.splitlines():
        text = text.split("#")[0].strip()
        if text.startswith(f"python -m {module}"):
            found.append(shlex.split(text)[3:])
    return found


@pytest.mark.parametrize("module", COMMANDS)
def test_help_examples_parse(module, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be created; if it were, not in the checkout
    argvs = examples(module)
    assert len(argvs) >= 2, f"{module}'s docstring shows fewer than two examples"
    parse = importlib.import_module(module).parse
    for argv in argvs:
        if argv == ["--help"]:
            continue
        parse(argv)  # exits (code 2) on an example that does not parse
    assert [p for p in tmp_path.iterdir() if p.is_dir()] == []  # no run or export directory
