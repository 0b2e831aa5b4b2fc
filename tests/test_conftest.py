"""The suite's own rules (tests/conftest.py): the `slow` list names tests that exist, so a
renamed test cannot silently fall out of it (and into `make test-quick`)."""
import re
from pathlib import Path

from conftest import SLOW

HERE = Path(__file__).parent


def test_every_slow_entry_names_a_test():
    for entry in SLOW:
        file, prefix = entry.split("::")
        names = re.findall(r"^def (test_\w+)", (HERE / file).read_text(), re.M)
        assert any(n.startswith(prefix.split("[")[0]) for n in names), entry
