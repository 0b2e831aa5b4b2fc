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
    for row in readme_table.rows():
        record = json.loads((readme_table.RESULTS / row[-1].strip("`")).read_text())
        if row[-1].strip("`") in readme_table.COMPARISONS:
            base = next(b for b, label in readme_table.LABELS.items() if label == row[0])
            runs = [r for r in record["rows"] if readme_table.base_name(r["base"]) == base]
            alone = min(r["alone"]["plausible_success_rate"] for r in runs)
            assert row[1].startswith(f"{100 * alone:.1f}")
            lowest = min(r["residual"]["plausible_success_rate"] for r in runs)
            assert row[2].startswith(f"{100 * lowest:.1f}")
    bases = {readme_table.base_name(r["base"]) for name in readme_table.COMPARISONS
             if (readme_table.RESULTS / name).exists()
             for r in json.loads((readme_table.RESULTS / name).read_text())["rows"]}
    assert len(readme_table.rows()) == len(bases | set(readme_table.LABELS))


def test_comparison_rows_span_the_training_seeds():
    def run(seed, rate, ci):
        return {"base": "torch:bridge.bc_policy:bases/bc/policy.safetensors", "seed": seed,
                "alone": {"plausible_success_rate": 0.5, "plausible_ci95": [0.4, 0.6]},
                "residual": {"plausible_success_rate": rate, "plausible_ci95": ci},
                "env_steps": 38400, "device": {"device_kind": "cpu", "cpu_model": "X"}}
    record = {"timestamp": "2026-12-05T00:00:00", "rows": [run(0, 0.9, [0.8, 0.95]), run(1, 0.7, [0.6, 0.8])]}
    row = readme_table._comparison_rows("f.json", record)["bc"]
    assert row[:4] == ["BC vision base (`make base`)", "50.0% (40-60)",
                       "70.0-90.0% over 2 seeds (CIs 60-95)", "38.4k"]
    assert row[4:] == ["X (CPU)", "2026-12-05", "`f.json`"]


def test_seeds_on_other_cpus_show_every_device_and_every_evaluation_of_the_base():
    """Two seeds recorded on two CPUs: the base alone, the same episodes, may end differently
    on each (another float order), so both evaluations are shown, and both devices."""
    def run(seed, alone, cpu):
        return {"base": "scripted:0.03", "seed": seed,
                "alone": {"plausible_success_rate": alone, "plausible_ci95": [alone - 0.1, alone + 0.1]},
                "residual": {"plausible_success_rate": 0.5, "plausible_ci95": [0.4, 0.6]},
                "env_steps": 38400, "device": {"device_kind": "cpu", "cpu_model": cpu}}
    record = {"timestamp": "2026-12-07T00:00:00", "rows": [run(1, 0.3, "A"), run(0, 0.4, "B")]}
    row = readme_table._comparison_rows("f.json", record)["scripted:0.03"]
    assert row[1] == "30.0-40.0% over 2 evaluations (CIs 20-50)"
    assert row[2] == "50.0-50.0% over 2 seeds (CIs 40-60)" and row[4] == "A (CPU) / B (CPU)"
    same = {"timestamp": "2026-12-07T00:00:00", "rows": [run(1, 0.3, "A"), run(0, 0.3, "A")]}
    row = readme_table._comparison_rows("f.json", same)["scripted:0.03"]
    assert row[1] == "30.0% (20-40)" and row[4] == "A (CPU)"


def test_render_refuses_a_readme_without_markers():
    try:
        readme_table.render("# no table here\n")
    except SystemExit as e:
        assert "markers" in str(e)
    else:
        raise AssertionError("render accepted a text without markers")
