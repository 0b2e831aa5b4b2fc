"""GR00T in another process, the server side of the N1.5 inference-server protocol
(`bridge.inference_client`: the protocol and the client, `Gr00tClient`).

`python -m bridge.server --base gr00t:<hub id | dir>` serves a GR00T N1.5 checkpoint through the
bridge's own loader (bridge.gr00t: LeRobot's model code, the checkpoint's transforms), e.g. on a
GPU machine for training elsewhere; `serve(policy)` answers with any `get_action`.
"""
from __future__ import annotations

import argparse
import threading

import numpy as np
import zmq

from bridge.inference_client import pack, unpack


def serve(policy, host: str = "*", port: int = 5555, stop: threading.Event | None = None,
          ready: threading.Event | None = None) -> None:
    """Answer requests with `policy.get_action` until "kill" or `stop` is set."""
    socket = zmq.Context.instance().socket(zmq.REP)
    socket.setsockopt(zmq.LINGER, 0)
    socket.bind(f"tcp://{host}:{port}")
    if ready is not None:
        ready.set()
    try:
        while stop is None or not stop.is_set():
            if not socket.poll(100):
                continue
            request = unpack(socket.recv())
            endpoint = request.get("endpoint", "get_action")
            try:
                if endpoint == "ping":
                    reply = {"status": "ok"}
                elif endpoint == "kill":
                    socket.send(pack({"status": "killed"}))
                    return
                elif endpoint == "get_action":
                    reply = {k: np.asarray(v) for k, v in policy.get_action(request["data"]).items()}
                else:
                    reply = {"error": f"unknown endpoint {endpoint!r}"}
            except Exception as e:  # the client gets the error instead of a hang
                reply = {"error": f"{type(e).__name__}: {e}"}
            socket.send(pack(reply))
    finally:
        socket.close()


class ModelPolicy:
    """`get_action(numpy obs) -> numpy actions` around a GR00T-layout torch callable (what
    `serve` answers with)."""

    def __init__(self, model):
        self.model = model

    def get_action(self, obs: dict) -> dict:
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
        batched = {k: (torch.as_tensor(np.asarray(v)).to(device) if not isinstance(v, (list, tuple)) else list(v))
                   for k, v in obs.items()}
        with torch.inference_mode():
            out = self.model(batched)
        return {k: v.detach().cpu().numpy() for k, v in out.items()}


def main(argv=None) -> None:
    from bridge.base import check_bridge, kind_of
    from bridge.units import BridgeConfig
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="gr00t:<hub id | dir> (bridge.gr00t)")
    p.add_argument("--port", type=int, default=5555)
    p.add_argument("--host", default="*")
    p.add_argument("--layout", default=BridgeConfig.layout)
    p.add_argument("--render-size", type=int, default=BridgeConfig.render_size,
                   help="frame side the clients send, px (checked against the checkpoint)")
    p.add_argument("--embodiment-tag", default=BridgeConfig.embodiment_tag)
    p.add_argument("--denoising-steps", type=int, default=BridgeConfig.denoising_steps)
    p.add_argument("--gr00t-fast", action="store_true")
    args = p.parse_args(argv)
    config = BridgeConfig(layout=args.layout, render_size=args.render_size,
                          embodiment_tag=args.embodiment_tag, denoising_steps=args.denoising_steps,
                          gr00t_fast=args.gr00t_fast)
    try:
        kind, checkpoint = kind_of(args.base)
        if kind.name != "gr00t":
            raise ValueError(f"--base {args.base}: this server serves gr00t:<hub id | dir>")
        check_bridge(args.base, config)
    except ValueError as e:
        p.error(str(e))
    from bridge import gr00t
    policy = ModelPolicy(gr00t.load(checkpoint, config))
    print(f"serving {args.base} on tcp://{args.host}:{args.port}")
    serve(policy, args.host, args.port)


if __name__ == "__main__":
    main()
