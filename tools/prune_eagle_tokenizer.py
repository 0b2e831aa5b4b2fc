"""The GR00T N1.5 Eagle tokenizer restricted to the golden texts, for the token-id tests.

    python tools/prune_eagle_tokenizer.py <full tokenizer dir> tests/fixtures/gr00t_golden/eagle_tokenizer

<full tokenizer dir>: vocab.json, merges.txt, tokenizer_config.json, added_tokens.json and
special_tokens_map.json of Isaac-GR00T n1.5-release's gr00t/model/backbone/eagle2_hg_model/
(Apache-2.0; 5 MB, so the repository carries only this pruned copy).

The tokenizer is byte-level BPE (Qwen2). BPE on one pre-token only ever applies merges whose
result is a substring of that pre-token, so keeping exactly the merges whose result is a
substring of a pre-token of the texts (in their original rank order), the byte alphabet and the
added tokens at their ids encodes those texts as the full tokenizer does. The script checks that
on every text before it writes anything, and a text outside them cannot pass by accident: it
falls apart into byte tokens the golden ids do not have.

Texts: `bridge.gr00t_transforms.chat_text` of every golden task (tests/fixtures/gr00t_golden/
golden.json), every convention, 1 and 2 images.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "fixtures" / "gr00t_golden" / "golden.json"
COPIED = ("added_tokens.json", "special_tokens_map.json", "tokenizer_config.json")


def golden_texts() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from bridge import gr00t_transforms as T
    tasks = json.loads(GOLDEN.read_text())["tasks"]
    return [T.chat_text(task, n, conv) for task in tasks for conv in T.CONVENTIONS for n in (1, 2)]


def substrings(tok, added: dict[str, int], texts: list[str]) -> set[str]:
    """Every substring of every pre-token (byte-level characters) of `texts`, added tokens cut out."""
    cut = re.compile("|".join(re.escape(t) for t in sorted(added, key=len, reverse=True)))
    pre = tok.backend_tokenizer.pre_tokenizer
    out = set()
    for text in texts:
        for piece in cut.split(text):
            for word, _ in pre.pre_tokenize_str(piece):
                out.update(word[i:j] for i in range(len(word)) for j in range(i + 1, len(word) + 1))
    return out


def prune(full: Path, texts: list[str]) -> tuple[dict, object]:
    """(tokenizer.json spec of the pruned tokenizer, the full tokenizer)."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(full))
    added = json.loads((full / "added_tokens.json").read_text())
    subs = substrings(tok, added, texts)
    spec = json.loads(tok.backend_tokenizer.to_str())
    if spec["model"]["type"] != "BPE":
        raise SystemExit(f"{full}: a {spec['model']['type']} tokenizer, expected byte-level BPE")
    merges = [m if isinstance(m, list) else m.split(" ") for m in spec["model"]["merges"]]
    kept = [m for m in merges if "".join(m) in subs]
    total = len(spec["model"]["vocab"])
    keep = {"".join(m) for m in kept}
    vocab = {t: i for t, i in spec["model"]["vocab"].items() if len(t) == 1 or t in keep}
    vocab.update(added)  # in the model's vocab too, or `tokenizers` renumbers them after a sparse one
    spec["model"]["vocab"], spec["model"]["merges"] = vocab, kept
    print(f"{len(kept)} of {len(merges)} merges, {len(vocab)} of {total} tokens kept (added ones included)")
    return spec, tok


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("full", type=Path, help="the full N1.5 Eagle tokenizer directory")
    p.add_argument("out", type=Path, help="where the pruned tokenizer goes")
    a = p.parse_args(argv)
    missing = [f for f in ("vocab.json", "merges.txt", *COPIED) if not (a.full / f).is_file()]
    if missing:
        p.error(f"{a.full} lacks {', '.join(missing)}")
    texts = golden_texts()
    spec, full = prune(a.full, texts)
    from tokenizers import Tokenizer
    small = Tokenizer.from_str(json.dumps(spec))
    for text in texts:
        if small.encode(text).ids != full(text)["input_ids"]:
            raise SystemExit(f"the pruned tokenizer encodes {text[:60]!r}... differently; nothing written")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "tokenizer.json").write_text(json.dumps(spec, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    for f in COPIED:
        (a.out / f).write_bytes((a.full / f).read_bytes())
    print(f"{len(texts)} texts encode as with the full tokenizer; written to {a.out}")


if __name__ == "__main__":
    main()
