"""The GR00T N1.5 inference-server protocol (ZMQ REQ/REP, msgpack, numpy arrays as
`{"__ndarray_class__": True, "as_npy": np.save bytes}`; requests
`{"endpoint": "get_action" | "ping" | "kill", "data": ...}`) and its client.

`Gr00tClient(host, port)` is a chunk model (bridge.torch_base) that talks to Isaac-GR00T's own
inference service (`scripts/inference_service.py --server`, in Isaac-GR00T's environment) or to
`python -m bridge.server` (the `gr00t-server:<host>:<port>` base).
"""
from __future__ import annotations

import io

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
