"""`gr00t-server:<host>:<port>`: a GR00T inference server in another process, through
`bridge.inference_client` (`python -m bridge.server` serves one)."""
from __future__ import annotations

from bridge.kinds.kind import BaseKind


def server_address(spec: str, arg: str) -> tuple[str, int]:
    """(host, port) of a `gr00t-server:<host>:<port>` spec's `<host>:<port>`."""
    host, _, port = arg.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--base {spec}: needs gr00t-server:<host>:<port>, a host and a port "
                         f"1..65535, got {arg!r}")
    return host, int(port)


class Gr00tServer(BaseKind):
    name, usage, model = "gr00t-server", "gr00t-server:<host>:<port>", True

    def validate(self, spec: str, arg: str) -> None:
        server_address(spec, arg)

    def load_model(self, arg, config, check_frames=True):
        from bridge.inference_client import Gr00tClient
        return Gr00tClient(*server_address(self.name, arg))
