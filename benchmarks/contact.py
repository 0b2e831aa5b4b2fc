"""Does a pressing fingertip drag the sheet, and does anything sink into the table?

The contact probe (`mjx_env/contact_probe.py`: table, A5 sheet, one 8 mm fingertip carrying the
scene's own contact pairs) pressed with 0.5 / 1.5 / 3 / 10 N and dragged 5 cm in 1 s, and
hovering 5 mm above the sheet, in MuJoCo C at 2 kHz (ground truth) and at the product's 360 Hz
in MuJoCo C, MJX jax and MJX warp.

    python -m benchmarks.contact [--forces 0.5 1.5 3 10] [--engines C jax warp]

Writes benchmarks/results/contact_<cpu|gpu>.json and prints a table (mm, fractions).
"""
from __future__ import annotations

from pathlib import Path

import mjx_env  # noqa: E402,F401  (XLA CPU flag before JAX starts)

import argparse  # noqa: E402
import json  # noqa: E402

import jax  # noqa: E402

from benchmarks.env_throughput import metadata, scene_settings  # noqa: E402
from mjx_env import contact_probe  # noqa: E402
from mjx_env.config import EnvConfig  # noqa: E402

FINE_DT = 1 / 2000


def probe(engine: str, dt: float, force: float, lifted: float | None = None) -> dict:
    if engine == "C":
        return contact_probe.drag(force, dt, lifted=lifted)
    return contact_probe.drag_mjx(force, dt, engine, lifted=lifted)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--forces", type=float, nargs="+", default=[0.5, 1.5, 3.0, 10.0])
    p.add_argument("--engines", nargs="+", default=["C", "jax", "warp"], choices=["C", "jax", "warp"])
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    runs = [("C", FINE_DT)] + [(e, EnvConfig().sim_dt) for e in a.engines]
    rows = []
    for engine, dt in runs:
        for force in a.forces:
            rows.append({"engine": engine, "physics_hz": round(1 / dt), "force_n": force,
                         **probe(engine, dt, force)})
        rows.append({"engine": engine, "physics_hz": round(1 / dt), "force_n": 0.0,
                     "hover_mm": 5.0, **probe(engine, dt, 0.0, lifted=0.005)})
    print(f"{'engine':<8}{'Hz':>6}{'force N':>9}{'fraction':>10}{'sink still':>12}"
          f"{'sink dragged':>14}{'lift':>8}{'tip depth':>11}")
    for r in rows:
        label = "hover" if "hover_mm" in r else f"{r['force_n']:g}"
        frac = r["sheet_travel"] * 1e3 if "hover_mm" in r else r["sheet_fraction"]
        unit = " mm" if "hover_mm" in r else ""
        print(f"{r['engine']:<8}{r['physics_hz']:>6}{label:>9}{frac:>8.3f}{unit:<2}"
              f"{r['sheet_z_dev_pressed'] * 1e3:>10.2f}mm{r['sheet_z_dev_dragged'] * 1e3:>12.2f}mm"
              f"{r['sheet_lift'] * 1e3:>6.2f}mm{r['tip_depth'] * 1e3:>9.2f}mm")
    dev = "gpu" if jax.default_backend() == "gpu" else "cpu"
    out = a.out or Path(__file__).resolve().parent / "results" / f"contact_{dev}.json"
    out.write_text(json.dumps(metadata() | {"scene": scene_settings(), "travel_m": 0.05,
                                            "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
