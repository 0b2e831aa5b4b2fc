"""GR00T in another process: the N1.5 inference-server protocol (ZMQ REQ/REP, msgpack, numpy
arrays as `{"__ndarray_class__": True, "as_npy": np.save bytes}`; requests
`{"endpoint": "get_action" | "ping" | "kill", "data": ...}`).

`Gr00tClient(host, port)` is a chunk model (bridge.torch_base) that talks to Isaac-GR00T's own
inference service (`scripts/inference_service.py --server`, in Isaac-GR00T's environment) or to
`serve` here. `python -m bridge.server --base gr00t:<hub id | dir>` serves a GR00T N1.5
checkpoint through the bridge's own loader (bridge.gr00t: LeRobot's model code, the
checkpoint's transforms), e.g. on a GPU machine for training elsewhere.
"""
from __future__ import annotations

import argparse
import io
import threading

import msgpack
import numpy as np
import zmq


def _encode(obj):
    if isinstance(obj, np.ndarray):
        buf = io.BytesIO()
        np.save(buf, obj, allow_pickle=False)
        return {"__ndarray_class__": True, "as_npy": buf.getvalue()}
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _decode(obj):
    if isinstance(obj, dict) and "__ndarray_class__" in obj:
        return np.load(io.BytesIO(obj["as_npy"]), allow_pickle=False)
    return obj


def pack(data) -> bytes:
    return msgpack.packb(data, default=_encode, use_bin_type=True)


def unpack(raw: bytes):
    return msgpack.unpackb(raw, object_hook=_decode, raw=False)


class Gr00tClient:
    """Client of a GR00T inference server; `timeout_ms` bounds each request."""

    def __init__(self, host: str = "localhost", port: int = 5555, timeout_ms: int = 15000,
                 api_token: str | None = None):
        self.address, self.timeout_ms, self.api_token = f"tcp://{host}:{port}", timeout_ms, api_token
        self._ctx = zmq.Context.instance()
        self._connect()

    def _connect(self) -> None:
        self._socket = self._ctx.socket(zmq.REQ)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.RCVTIMEO, self.timeout_ms)
        self._socket.setsockopt(zmq.SNDTIMEO, self.timeout_ms)
        self._socket.connect(self.address)

    def call(self, endpoint: str, data=None):
        request = {"endpoint": endpoint, **({"data": data} if data is not None else {})}
        if self.api_token:
            request["api_token"] = self.api_token
        try:
            self._socket.send(pack(request))
            reply = unpack(self._socket.recv())
        except zmq.Again:
            self._socket.close()  # a REQ socket that missed its reply cannot be reused
            self._connect()
            raise TimeoutError(f"GR00T server at {self.address} did not answer {endpoint!r} "
                               f"within {self.timeout_ms} ms") from None
        if isinstance(reply, dict) and "error" in reply:
            raise RuntimeError(f"GR00T server at {self.address}: {reply['error']}")
        return reply

    def ping(self) -> bool:
        try:
            self.call("ping")
            return True
        except TimeoutError:
            return False

    def get_action(self, obs: dict) -> dict:
        reply = self.call("get_action", obs)
        return reply[0] if isinstance(reply, (list, tuple)) else reply  # N1.6 sends (action, info)

    def __call__(self, obs: dict) -> dict:
        """Chunk-model interface: torch tensors in, torch tensors (on the input device) out."""
        import torch
        device = next(v.device for v in obs.values() if torch.is_tensor(v))
        numpy_obs = {k: v.detach().cpu().numpy() if torch.is_tensor(v) else v for k, v in obs.items()}
        return {k: torch.as_tensor(v, device=device) for k, v in self.get_action(numpy_obs).items()}

    def close(self) -> None:
        self._socket.close()


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
    from bridge.base import check_bridge
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
    kind, _, rest = args.base.partition(":")
    config = BridgeConfig(layout=args.layout, render_size=args.render_size,
                          embodiment_tag=args.embodiment_tag, denoising_steps=args.denoising_steps,
                          gr00t_fast=args.gr00t_fast)
    try:
        if kind != "gr00t":
            raise ValueError(f"--base {args.base}: this server serves gr00t:<hub id | dir>")
        check_bridge(args.base, config)
    except ValueError as e:
        p.error(str(e))
    from bridge import gr00t
    policy = ModelPolicy(gr00t.load(rest, config))
    print(f"serving {args.base} on tcp://{args.host}:{args.port}")
    serve(policy, args.host, args.port)


if __name__ == "__main__":
    main()
