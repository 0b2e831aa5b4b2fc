"""GR00T inference-server client against a real loopback ZMQ server started by the test."""
import socket
import threading

import numpy as np
import pytest
import torch

from bridge.inference_client import Gr00tClient
from bridge.server import serve
from bridge.units import LAYOUTS
from gr00t_standin import Gr00tPolicy, write_checkpoint

LAYOUT = LAYOUTS["paper_return"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    policy = Gr00tPolicy(write_checkpoint(tmp_path_factory.mktemp("gr00t"), LAYOUT), LAYOUT)
    port, stop, ready = free_port(), threading.Event(), threading.Event()
    thread = threading.Thread(target=serve, args=(policy, "127.0.0.1", port, stop, ready), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield policy, port
    stop.set()
    thread.join(5)


def observation(batch=4):
    rng = np.random.default_rng(0)
    frames = {cam: rng.integers(0, 256, (batch, 24, 24, 3), dtype=np.uint8) for cam in ("top", "wrist")}
    return LAYOUT.observation(frames, rng.uniform(-1, 1, (batch, 6)).astype(np.float32), "task")


def test_client_round_trips_a_batch(server):
    policy, port = server
    client = Gr00tClient("127.0.0.1", port, timeout_ms=5000)
    assert client.ping()
    obs = observation()
    remote = client.get_action(obs)
    local = policy.get_action(obs)
    assert set(remote) == set(local) == {"action.arm_0"}
    np.testing.assert_array_equal(remote["action.arm_0"], local["action.arm_0"])
    assert remote["action.arm_0"].shape == (4, 16, 6)
    # The chunk-model interface: torch in, torch out.
    out = client({k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in obs.items()})
    np.testing.assert_array_equal(out["action.arm_0"].numpy(), local["action.arm_0"])


def test_server_errors_reach_the_client(server):
    _, port = server
    client = Gr00tClient("127.0.0.1", port, timeout_ms=5000)
    obs = observation()
    del obs["video.image_cam_1"]
    with pytest.raises(RuntimeError, match="KeyError"):
        client.get_action(obs)
    assert client.ping()  # the server still answers


def test_no_server_is_a_timeout_not_a_hang():
    client = Gr00tClient("127.0.0.1", free_port(), timeout_ms=200)
    assert not client.ping()
    with pytest.raises(TimeoutError, match="did not answer 'get_action' within 200 ms"):
        client.get_action(observation(1))
