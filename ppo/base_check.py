"""`python -m ppo.base_check --base <spec>`: the base policy alone in the sim, the check to run
first with a new checkpoint (before training a residual on it).

    python -m ppo.base_check --base gr00t:phospho-app/gr00t-paper_return-7w9itxzsox \\
        --episodes 100 --compare my_top_camera.jpg

Runs --episodes fixed-seed episodes of the base with no residual (episode i from key i of
jax.random.split(PRNGKey(--seed), --episodes), as ppo.evaluate does) and prints success and
plausible success with 95% Wilson CIs and what the plausible success rate means:
  below 5%   the model does not recognise the rendered scene (domain gap): compare the frames
  5-20%      marginal: the residual has something to build on, but check the frames and units
  above 20%  a good start for the residual
It writes a PNG of the frames exactly as the model receives them (after its own crop and resize;
the first episode's first frame, every camera in the model's order), beside `--compare
[CAMERA=]PHOTO` (a frame from your own camera, resized to the checkpoint's resolution as the
deploy loop does, then the same crop and resize). For a GR00T checkpoint it also says which
units preset its state statistics fit (bridge.gr00t_checkpoint.units_fit).

Every bridge flag of ppo.train is here too (--layout, --units, --render-size, --embodiment-tag,
--gr00t-fast, --random-weights, ...). A bad value is one line and exit code 2, before anything
compiles.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bridge.units import BridgeConfig

READINGS = ((0.05, "below 5%: the model does not recognise the rendered scene (domain gap): compare "
                   "the frames PNG with your camera's"),
            (0.20, "5-20%: marginal: the residual has something to build on; check the frames and the "
                   "units"),
            (float("inf"), "above 20%: a good start for the residual"))


def reading(rate: float) -> str:
    return next(text for limit, text in READINGS if rate < limit)


def parser():
    from cmdline import OneLineParser, add_fields
    p = OneLineParser(prog="python -m ppo.base_check", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the base: gr00t:<hub id | dir>, torch:..., scripted, ...")
    p.add_argument("--episodes", type=int, default=100, help="episodes (default 100)")
    p.add_argument("--seed", type=int, default=1234, help="episode seed (default 1234, as ppo.evaluate)")
    p.add_argument("--num-envs", type=int, default=None,
                   help="episodes side by side (default: all on a GPU, 16 on a CPU)")
    p.add_argument("--impl", choices=("jax", "warp"), default=None, help="MJX backend")
    p.add_argument("--alpha", type=float, default=0.0,
                   help="accepted for ppo.evaluate's form; the base check runs no residual (0)")
    p.add_argument("--compare", action="append", default=[], metavar="[CAMERA=]PHOTO",
                   help="a frame from your own camera (default camera: the model's first)")
    p.add_argument("--out", default=None, metavar="FILE.json", help="also write the results as JSON")
    p.add_argument("--frames", default=None, metavar="FILE.png",
                   help="the frames PNG (default: --out with .png, else base_check_frames.png)")
    add_fields(p.add_argument_group("bridge (model bases)"), BridgeConfig())
    return p


def parse(argv=None):
    """(args, BridgeConfig, {camera: photo path}); a bad value exits 2 in one line."""
    from cmdline import read_fields
    p = parser()
    args = p.parse_args(argv)
    if args.episodes < 1 or (args.num_envs is not None and args.num_envs < 1):
        p.error("--episodes and --num-envs must be >= 1")
    if args.alpha != 0:
        p.error(f"--alpha {args.alpha}: the base check runs the base alone (--alpha 0)")
    config = read_fields(args, BridgeConfig)
    compare = {}
    try:
        from bridge.base import check_bridge, check_spec
        check_spec(args.base)
        check_bridge(args.base, config)
        cams = config.key_layout().cameras
        for c in args.compare:
            cam, sep, path = c.rpartition("=") if "=" in c else ("", "", c)
            cam = cam if sep else cams[0]
            if cam not in cams:
                raise ValueError(f"--compare {c}: camera {cam!r} is not one of the layout's {list(cams)}")
            if not Path(path).is_file():
                raise ValueError(f"--compare {c}: {path} is not a file")
            compare[cam] = path
    except ValueError as e:
        p.error(str(e))
    return args, config, compare


def model_view(model, frames: dict, layout) -> list[tuple[str, "object"]]:
    """[(label, (S, S, 3) uint8 numpy)] per camera in the model's order: the rendered frames
    after the model's own crop and resize (GR00T), or as rendered (other model bases)."""
    import numpy as np
    from bridge.gr00t_transforms import model_frame
    order = getattr(model, "cameras", None) or [k for k, _ in layout.video]
    cam_of = dict(layout.video)
    convention = getattr(model, "convention", None)
    size = getattr(model, "image_size", None)
    return [(f"{cam_of[key]} ({key})", model_frame(np.array(frames[cam_of[key]]), convention, size))
            for key in order]


def photo_view(model, path: str, key: str, size: int):
    """The photo as the model would receive it: resized to the camera's training resolution
    (INTER_AREA, as the deploy loop does), then the model's own crop and resize."""
    import cv2
    from bridge.gr00t_transforms import model_frame
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"--compare {path}: not an image cv2 can read")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    res = None
    if hasattr(model, "ckpt"):
        res = next((c.resolution for c in model.ckpt.video if c.key == key), None)
    rgb = cv2.resize(rgb, res or (size, size), interpolation=cv2.INTER_AREA)
    return model_frame(rgb, getattr(model, "convention", None), getattr(model, "image_size", None))


def write_png(rows: list[list[tuple[str, object]]], path: Path, tile: int = 224) -> None:
    """Tiles of `tile` px with a label strip above each, one row per list."""
    from PIL import Image, ImageDraw
    label = 14
    cols = max(len(r) for r in rows)
    sheet = Image.new("RGB", (cols * tile, len(rows) * (tile + label)), "white")
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(rows):
        for j, (text, img) in enumerate(row):
            x, y = j * tile, i * (tile + label)
            draw.text((x + 2, y + 1), text[:40], fill="black")
            sheet.paste(Image.fromarray(img).resize((tile, tile), Image.NEAREST), (x, y + label))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def main(argv=None) -> dict:
    args, config, compare = parse(argv)
    start = time.monotonic()
    import jax
    import numpy as np

    from bridge.base import make_base
    from bridge.render import Renderer
    from mjx_env.config import EnvConfig
    from mjx_env.paper_return import PaperReturn
    from ppo.evaluate import evaluate_base, format_report, report, summary
    env = PaperReturn(EnvConfig(**({"impl": args.impl} if args.impl else {})))
    try:
        base = make_base(args.base, env, config=config)
    except ValueError as e:
        print(f"python -m ppo.base_check: error: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    batch = min(args.num_envs or (args.episodes if jax.default_backend() == "gpu" else 16), args.episodes)
    print(f"base check: {base.name}, {args.episodes} episodes (seed {args.seed}, {batch} side by side, "
          f"impl {env.impl}), no residual", flush=True)
    result = evaluate_base(env, base, args.episodes, args.seed, None, batch)
    out = {"base": base.name, "episodes": args.episodes, "seed": args.seed, "impl": env.impl,
           "num_envs": batch, "bridge": {k: getattr(config, k) for k in config.__dataclass_fields__},
           **report(result, summary(result), env.config),
           "base_calls": result["base_calls"]}
    out["reading"] = reading(out["plausible_success_rate"])
    model = base.model.model if base.model is not None else None
    if model is not None and hasattr(model, "ckpt"):
        from bridge.gr00t_checkpoint import units_fit
        ckpt = model.ckpt
        out["checkpoint"] = {"source": ckpt.source, "format": ckpt.format, "path": str(ckpt.path),
                             "convention": model.convention, "describe": ckpt.describe()}
        out["units_fit"] = units_fit(ckpt, config.key_layout())
    if model is not None:
        layout = config.key_layout()
        keys = jax.random.split(jax.random.PRNGKey(args.seed), args.episodes)[:1]
        state = jax.jit(env.reset)(keys)
        cams = tuple(dict.fromkeys(layout.cameras))
        renderer = Renderer(env, cams, config.render_size)  # alive while its frames are read
        frames = {c: np.asarray(v[0]) for c, v in jax.jit(renderer)(state).items()}
        del renderer
        rows = [[(f"sim {t}", img) for t, img in model_view(model, frames, layout)]]
        if compare:
            key_of = {cam: key for key, cam in layout.video}
            rows.append([(f"photo {cam}", photo_view(model, p, key_of[cam], config.render_size))
                         for cam, p in compare.items()])
        png = Path(args.frames or (Path(args.out).with_suffix(".png") if args.out else "base_check_frames.png"))
        write_png(rows, png)
        out["frames_png"] = str(png)
        out["compare"] = compare
    out["wall_s"] = time.monotonic() - start
    print(format_report(out))
    print(f"  reading: {out['reading']}")
    if "units_fit" in out:
        fit = out["units_fit"]
        print(f"  units: the state statistics fit --units {fit['best']} best (--units {config.units}: worst "
              f"joint {fit['presets'].get(config.units, {}).get('joint', '?')} "
              f"{fit['presets'].get(config.units, {}).get('overshoot', float('nan')):.0%} beyond its limits)")
    if "frames_png" in out:
        print(f"  frames as the model receives them: {out['frames_png']}")
    print(f"  checked in {out['wall_s']:.1f} s (compilation included)", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
        print(f"  results: {args.out}")
    return out


if __name__ == "__main__":
    main()
