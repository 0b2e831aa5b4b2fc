"""tools/readme_table.py: README.md's results table is the one the JSON files give (no drift),
and it reads the numbers it shows from them."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import readme_table  # noqa: E402


def test_readme_results_table_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "readme_table.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_table_rows_come_from_the_json_files():
    record = json.loads((readme_table.RESULTS / "base_vs_residual_scale0.1.json").read_text())
    rate = record["rows"]["scripted:0.03"]["base_plus_residual"]["plausible_success_rate"]
    row = next(r for r in readme_table.rows() if r[0] == "`scripted:0.03`")
    assert row[2].startswith(f"{100 * rate:.1f}%")
    assert len(readme_table.rows()) == len(readme_table.SOURCES)


def test_render_refuses_a_readme_without_markers():
    try:
        readme_table.render("# no table here\n")
    except SystemExit as e:
        assert "markers" in str(e)
    else:
        raise AssertionError("render accepted a text without markers")
