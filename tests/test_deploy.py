"""The deploy loop (deploy/): units round trip through the loop, every safety stop on an
injected fault, chunk timing, the loop against the simulated robot (scripted base, and with an
exported tiny residual), the LeRobot adapter's refusal, CLI errors. CPU; one env compiled once."""
from __future__ import annotations

import mjx_env  # noqa: F401  (XLA CPU flag before JAX starts)

import importlib
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from deploy import cli
from deploy.bases import ChunkBase, HoldBase
from deploy.config import LoopConfig, SafetyConfig
from deploy.lerobot_robot import DeployError, SO101Spec, import_lerobot, make_so101, parse_camera
from deploy.look import LOOK_POSE, SETTLED_RAD
from deploy.loop import Controller, run
from deploy.observe import ArmModel, Pose
from deploy.robot import action_of, joints_of
from deploy.session import Parts, Session, sim_episode
from deploy.sim_robot import SimRobot
from bridge.units import lerobot_degrees
from mjx_env.paper_return import make

ROOT = Path(__file__).resolve().parents[1]
HOME = np.array([0.0, 0.3, -0.6, 0.0, 0.0, 0.0])  # rad


@pytest.fixture(scope="module")
def env():
    return make(impl="jax")


@pytest.fixture(scope="module")
def arm():
    return ArmModel()


@pytest.fixture(scope="module")
def robot(env):
    return SimRobot(env, seed=0)


def tiny_export(out: Path, env, base: str = "scripted", hidden=(16, 16), head_scale=0.1) -> Path:
    """An export (ppo.export's manifest, params, integrity) of a randomly initialised residual:
    the deploy path of a real one, without training (no jax.export artefact: `load` only). Its
    small head (0.1) keeps the random offsets (<= 0.07 rad x its output) from undoing the base."""
    from ppo import export as ex
    from policy import exported as pol
    from policy.networks import ActorCritic, init_stats

    net = ActorCritic(hidden=hidden, head_scale=head_scale)
    params = net.init(jax.random.PRNGKey(7), jp.zeros((1, pol.POLICY_INPUT)))
    tree = ex.saved_tree(params, init_stats(pol.POLICY_INPUT), hidden)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(out / pol.PARAMS_DIR, tree)
    ckpt.wait_until_finished()
    m = ex.manifest(out / "checkpoints" / "0", {}, env, {"name": base, "horizon": 1, "active": 1.0},
                    hidden, out / pol.PARAMS_DIR, tree)
    m["jax_export"] = {"file": None, "missing_reason": "test export"}
    ex.write_json(out / pol.INTEGRITY, pol.integrity_record(m))
    ex.write_json(out / pol.MANIFEST, m)
    return out


@pytest.fixture(scope="module")
def export_dir(env, tmp_path_factory):
    return tiny_export(tmp_path_factory.mktemp("export") / "tiny", env)


# --- fakes ------------------------------------------------------------------------------------
class FakeRobot:
    """Joints fixed at `q` (sim rad, LeRobot units out), a grey frame; records what it was sent.
    `fault(step, obs) -> obs` injects a fault into the observation of a step."""

    simulated = True

    def __init__(self, q=HOME, fault=None, follow=False):
        self.units, self.q, self.fault = lerobot_degrees(), np.asarray(q, float), fault
        self.follow = follow  # True: the joints reach each sent target at once
        self.sent, self.steps, self.connected = [], 0, True

    def get_observation(self):
        obs = {**action_of(self.units.to_robot(self.q)), "top": np.full((8, 8, 3), 128, np.uint8)}
        return self.fault(self.steps, obs) if self.fault else obs

    def send_action(self, action):
        self.sent.append(joints_of(action))
        self.steps += 1
        if self.follow:
            self.q = np.asarray(self.units.to_sim(self.sent[-1]), float)
        return action

    def disconnect(self):
        self.connected = False


class FnBase(HoldBase):
    """A base from a function of the Sensed step."""

    name, active = "fn", 1.0

    def __init__(self, fn):
        self.fn = fn

    def action(self, s):
        return self.fn(s)


def fake_controller(arm, base=None, estimator=None, **safety) -> tuple[Controller, LoopConfig]:
    config = LoopConfig(steps=20, realtime=False, safety=SafetyConfig(**{"hold_s": 0.0, **safety}))
    est = estimator or (lambda frame: (Pose(0.2, 0.1, 0.0), ""))
    return Controller(arm, base or HoldBase(), None, lerobot_degrees(), config, estimator=est), config


def assert_held_and_disconnected(robot: FakeRobot):
    np.testing.assert_allclose(robot.sent[-1], robot.units.to_robot(robot.q), atol=1e-9)
    assert not robot.connected


# --- units ------------------------------------------------------------------------------------
def test_units_round_trip_robot_sim_robot_through_the_loop(env, arm):
    """LeRobot degrees -> sim rad -> LeRobot degrees: a hold base sends back what it measured,
    and the simulated robot's joints (sim rad) are the ones it reports in degrees."""
    robot = SimRobot(env, seed=3, render=False)
    robot.connect()
    q_sim = np.asarray(robot.state.obs[:6], np.float64)
    obs = robot.get_observation()
    units = lerobot_degrees()
    np.testing.assert_allclose(joints_of(obs)[:5], np.degrees(q_sim[:5]), rtol=1e-6)
    np.testing.assert_allclose(units.to_sim(joints_of(obs)), q_sim, atol=1e-6)
    config = LoopConfig(steps=3, realtime=False, pose="truth")
    sent = []
    send = robot.send_action
    robot.send_action = lambda a: sent.append(joints_of(a)) or send(a)
    report = run(robot, Controller(arm, HoldBase(), None, units, config, truth=robot.true_pose),
                 config, log=lambda s: None)
    assert report.steps == 3 and not report.safety_stop
    np.testing.assert_allclose(sent[0], joints_of(obs), atol=1e-3)  # deg: float32 round trip


def test_the_residual_is_given_the_previous_setpoint_sent(arm):
    """The export's law filters the base from the last setpoint (`policy(obs, base, last)`): the
    loop passes the setpoint it sent the step before (the measured joints before the first)."""
    robot, seen = FakeRobot(), []
    controller, config = fake_controller(arm)

    def residual(obs, base, last):
        seen.append(np.array(last, np.float64))
        return base + np.float32(0.01)
    controller.residual = residual
    report = run(robot, controller, config, log=lambda s: None)
    assert report.steps == config.steps and not report.safety_stop
    np.testing.assert_allclose(seen[0], robot.q, atol=1e-4)
    np.testing.assert_allclose(np.diff(np.array(seen), axis=0), 0.01, atol=1e-5)


# --- safety stops -----------------------------------------------------------------------------
def test_target_too_far_from_measured_pose_stops(arm):
    robot = FakeRobot()
    controller, config = fake_controller(arm, FnBase(lambda s: s.q + np.r_[0, 0, 0.7, 0, 0, 0]),
                                         max_step_deg=30)
    report = run(robot, controller, config, log=lambda s: None)
    assert report.safety_stop and "elbow_flex 40.1 deg > 30.0 deg" in report.stop
    assert report.steps == 0 and len(robot.sent) == 1  # only the hold was sent
    assert_held_and_disconnected(robot)


def test_non_finite_target_stops(arm):
    robot = FakeRobot()
    controller, config = fake_controller(arm, FnBase(lambda s: s.q * np.nan))
    report = run(robot, controller, config, log=lambda s: None)
    assert report.safety_stop and "non-finite joint target" in report.stop
    assert_held_and_disconnected(robot)


def test_missed_deadline_streak_stops(arm):
    def slow(s):
        time.sleep(0.04)  # > 1/30 s
        return s.q
    robot = FakeRobot()
    controller, config = fake_controller(arm, FnBase(slow), max_missed=2)
    report = run(robot, controller, config, log=lambda s: None)
    assert report.safety_stop and "missed deadlines: 2 in a row" in report.stop
    assert report.steps == 2 and report.missed == 2
    assert_held_and_disconnected(robot)


def test_lost_camera_frame_stops(arm):
    robot = FakeRobot(fault=lambda step, obs: {k: v for k, v in obs.items() if k != "top"}
                      if step == 3 else obs)
    controller, config = fake_controller(arm)
    report = run(robot, controller, config, log=lambda s: None)
    assert report.safety_stop and "camera 'top' lost" in report.stop and report.steps == 3
    assert_held_and_disconnected(robot)


def test_failed_pose_estimates_stop_after_the_streak(arm):
    calls = []

    def estimator(frame):  # good for the start check and two steps, then fails
        calls.append(1)
        return (Pose(0.2, 0.1, 0.0), "") if len(calls) <= 3 else (None, "ambiguous: two poses fit")
    robot = FakeRobot()
    controller, config = fake_controller(arm, estimator=estimator, max_pose_misses=2)
    report = run(robot, controller, config, log=lambda s: None)
    assert report.safety_stop and report.steps == 4  # 2 good, 2 tolerated misses, 3rd stops
    assert "sheet pose not estimated: 3 in a row (ambiguous: two poses fit)" in report.stop
    assert_held_and_disconnected(robot)


def test_no_pose_at_the_start_nor_from_the_look_pose_stops_before_the_first_step(arm):
    robot = FakeRobot(follow=True)
    controller, config = fake_controller(arm, estimator=lambda f: (None, "tape not found"))
    report = run(robot, controller, config, log=lambda s: None)
    assert report.safety_stop and report.steps == 0 and report.look_steps == 0
    assert report.stop == ("safety stop: sheet pose not estimated: tape not found "
                           "(at the start pose: tape not found)")
    np.testing.assert_allclose(robot.q, LOOK_POSE, atol=SETTLED_RAD)  # it looked from there
    assert_held_and_disconnected(robot)


def test_hidden_sheet_at_the_start_is_looked_for_from_the_raised_pose(arm):
    """The start frame shows no sheet: the arm rises to LOOK_POSE, each setpoint within half
    the gap rule of the measured joints, the pose is estimated there, the arm returns to its
    start pose, and the loop runs with that estimate as the last good one."""
    robot = FakeRobot(follow=True)

    def estimator(frame):  # the sheet is seen from the look pose only
        seen = np.abs(robot.q - LOOK_POSE).max() < SETTLED_RAD
        return (Pose(0.2, 0.1, 0.3), "") if seen else (None, "14% of its area visible")
    controller, config = fake_controller(arm, estimator=estimator, max_pose_misses=100)
    report = run(robot, controller, config, log=lambda s: None)
    assert report.stop == "ran 20 steps" and not report.safety_stop
    sent = np.array([robot.units.to_sim(a) for a in robot.sent])
    path = sent[:report.look_steps]
    assert np.abs(path - LOOK_POSE).max(axis=1).min() < SETTLED_RAD  # reached the look pose
    np.testing.assert_allclose(path[-1], HOME, atol=SETTLED_RAD)  # and came back
    steps = np.abs(np.diff(np.vstack([HOME, path]), axis=0)).max(axis=1)
    assert steps.max() <= config.safety.max_step_rad / 2 + 1e-6
    assert controller.pose == Pose(0.2, 0.1, 0.3)
    assert_held_and_disconnected(robot)


def test_ctrl_c_holds_and_disconnects(arm):
    def fault(step, obs):
        if step == 3:
            raise KeyboardInterrupt
        return obs
    robot = FakeRobot(fault=fault)
    controller, config = fake_controller(arm)
    report = run(robot, controller, config, log=lambda s: None)
    assert report.stop == "interrupted (Ctrl-C)" and not report.safety_stop and report.steps == 3
    assert_held_and_disconnected(robot)


# --- chunked bases ----------------------------------------------------------------------------
def test_chunk_base_requests_ahead_and_aligns_chunks_in_time():
    """The next chunk is asked `lead` steps before the current one runs out; a chunk computed at
    step t starts at step t, so action k of the run is the value of step k whatever the latency.
    (The sensed input is the step number, so a chunk's values do not depend on when the worker
    thread runs; after each step the test waits until the worker is idle: the request finishes
    within the lead, on a loaded machine too.)"""
    def request(s):  # sensed at step s: chunk entry i holds the step it is meant for, s + i
        return np.repeat((s + np.arange(8.0))[:, None], 6, axis=1)
    base = ChunkBase("fake", request, horizon=8, lead=3)
    got = []
    for k in range(40):
        got.append(base.action(k)[0])
        base._pool.submit(lambda: None).result()  # the step's own work outlasts the request
    base.close()
    assert got == list(range(40))
    assert base.calls == 1 + (40 - 8) // 5 + 1  # first, then every horizon - lead steps
    assert base.waits <= 1  # only the first chunk is waited for


def test_model_base_through_the_bridge_holds_and_prefetches(arm, monkeypatch):
    """A GR00T-layout chunk model (stand-in: its chunk repeats the state it was given, in the
    model's units) behind bridge.torch_base.ChunkModel: the loop's targets are the measured
    joints after robot -> sim -> model units -> sim, one request per horizon - lead steps."""
    from bridge.kinds.gr00t_server import Gr00tServer
    from bridge.units import BridgeConfig
    from deploy.bases import make_base

    def model(obs):  # GR00T layout "paper_return": state.arm_0 (B, 1, 6) -> action.arm_0 (B, 16, 6)
        assert obs["video.image_cam_0"].shape == (1, 1, 32, 32, 3)
        return {"action.arm_0": obs["state.arm_0"].repeat(1, 16, 1)}
    monkeypatch.setattr(Gr00tServer, "load_model", lambda self, arg, config, check_frames=True: model)
    base = make_base("gr00t-server:localhost:5555", None, BridgeConfig(render_size=32), lead=4)
    robot = FakeRobot(q=HOME + 0.1)

    def frames(step, obs):
        return {**obs, "wrist": obs["top"]}
    robot.fault = frames
    config = LoopConfig(steps=30, realtime=False, safety=SafetyConfig(hold_s=0.0))
    controller = Controller(arm, base, None, lerobot_degrees(), config,
                            estimator=lambda f: (Pose(0.2, 0.1, 0.0), ""))
    report = run(robot, controller, config, log=lambda s: None)
    base.close()
    assert report.steps == 30 and not report.safety_stop
    np.testing.assert_allclose(np.array(robot.sent), robot.units.to_robot(robot.q)[None].repeat(31, 0),
                               atol=1e-3)
    assert base.calls == 1 + (30 - 16) // 12 + 1


# --- the loop against the simulated robot -----------------------------------------------------
def test_sim_robot_loop_scripted_base_and_exported_residual_succeed(env, robot, export_dir):
    """Seed 1 (fixed): the scripted base alone and with an exported (untrained, random) residual,
    the pose from the top camera, succeed plausibly (1/1 each; the statistics are in
    benchmarks/deploy_sim.py); so does the residual at seed 14, whose start pose hides the sheet.
    Timing is recorded, not asserted."""
    config = LoopConfig(realtime=False, pose="camera", safety=SafetyConfig(max_missed=10**6))
    rows = {}
    for name, residual in (("scripted", None), ("scripted+residual", str(export_dir))):
        session = Session(Parts("scripted", residual), env)
        rows[name], report = sim_episode(session, robot, 1, config, log=lambda s: None)
        print(name, {k: rows[name][k] for k in ("steps", "stop", "compute_ms", "step_ms",
                                                 "pose_error_mm_mean", "arm_depth_max")})
    # seed 14 (scripted + residual): the start pose hides the sheet (14% visible): it looks first
    rows["hidden"], _ = sim_episode(session, robot, 14, config, log=lambda s: None)
    assert rows["hidden"]["look_steps"] > 0 and rows["scripted"]["look_steps"] == 0
    for row in rows.values():
        assert row["plausible_success"] == 1.0 and row["stop"] == "episode ended (simulated robot)"
        assert row["pose_error_mm_mean"] < 5.0
    assert rows["scripted"]["steps"] != rows["scripted+residual"]["steps"]  # the residual acts


def test_residual_trained_on_another_base_is_refused(env, export_dir):
    with pytest.raises(ValueError, match="trained on base 'scripted', not 'zero'"):
        cli.check_residual(str(export_dir), "zero", any_base=False)
    cli.check_residual(str(export_dir), "zero", any_base=True)


# --- LeRobot and the CLI ----------------------------------------------------------------------
def test_so101_adapter_configures_lerobot_in_degrees(monkeypatch):
    """Against a stand-in of LeRobot 0.4's modules (its SO101FollowerConfig fields): port, id,
    calibration dir, OpenCV cameras, degree calibration, torque off on disconnect."""
    import dataclasses
    import types

    @dataclasses.dataclass
    class Config:  # the fields of lerobot.robots.so_follower.SO101FollowerConfig (0.4.4)
        port: str
        id: str | None = None
        calibration_dir: Path | None = None
        disable_torque_on_disconnect: bool = True
        max_relative_target: float | None = None
        cameras: dict = dataclasses.field(default_factory=dict)
        use_degrees: bool = True

    robots = types.SimpleNamespace(SO101Follower=lambda c: ("follower", c), SO101FollowerConfig=Config)
    cameras = types.SimpleNamespace(OpenCVCameraConfig=lambda **kw: kw)
    modules = {"lerobot.robots.so_follower": robots,
               "lerobot.cameras.opencv.configuration_opencv": cameras}
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(importlib, "import_module", lambda name: modules[name])
    spec = SO101Spec("/dev/ttyACM0", "arm", "/calib", (parse_camera("top=/dev/video0:640x480@30"),))
    kind, config = make_so101(spec)
    assert kind == "follower" and config == Config(
        port="/dev/ttyACM0", id="arm", calibration_dir=Path("/calib"), use_degrees=True,
        cameras={"top": {"index_or_path": "/dev/video0", "width": 640, "height": 480, "fps": 30}})


def test_so101_without_a_working_lerobot_is_one_line():
    try:
        import_lerobot()
    except DeployError as e:
        assert "pip install 'lerobot[feetech]'" in str(e) and "\n" not in str(e)
    else:
        pytest.skip("LeRobot's so101_follower imports here")


def test_camera_specs_parse():
    c = parse_camera("top=/dev/video0:640x480@30")
    assert (c.name, c.index_or_path, c.width, c.height, c.fps) == ("top", "/dev/video0", 640, 480, 30)
    assert parse_camera("wrist=2").index_or_path == 2
    with pytest.raises(ValueError, match="name=<index or device path>"):
        parse_camera("top")


@pytest.mark.parametrize("argv, message", [
    (["--base", "nope"], "--base 'nope': expected zero, scripted"),
    (["--base", "scripted:0.1"], "--base 'scripted:0.1'"),
    (["--base", "gr00t-server:host"], "needs gr00t-server:<host>:<port>"),
    (["--base", "lerobot-groot:/no/such/dir"], "model directory /no/such/dir not found"),
    (["--residual", "/no/such/export"], "no manifest.json there"),
    (["--robot", "so101", "--port", "/dev/ttyACM0"], "--robot so101 needs --robot-id"),
    (["--robot", "so101", "--port", "p", "--robot-id", "a"], "needs the top camera"),
    (["--robot", "so101", "--port", "p", "--robot-id", "a", "--camera", "top=0", "--pose", "truth"],
     "--pose truth needs --robot sim"),
    (["--steps", "0"], "--steps and --episodes must be >= 1"),
    (["--max-step-deg", "200"], "--max-step-deg in (0, 180)"),
    (["--camera", "top"], "camera 'top'"),
    (["--robot", "ur5"], "argument --robot: invalid choice"),
])
def test_cli_errors_are_one_line_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and message in err and err.count("\n") == 1


def test_cli_errors_come_before_heavy_imports():
    code = ("import sys\nfrom deploy.cli import main\ntry:\n    main(['--base', 'nope'])\n"
            "except SystemExit as e:\n    print(e.code, sorted(m for m in ('jax', 'mujoco', 'torch', "
            "'lerobot', 'cv2') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "2 []", out.stderr


def test_deploy_imports_nothing_from_the_trainer():
    """The deploy loop, its robots, bases and the export loader (policy.exported) import no
    `ppo` module: the robot's computer needs no trainer."""
    code = ("import sys, deploy.cli, deploy.run, deploy.session, deploy.loop, deploy.look, "
            "deploy.sim_robot, deploy.bases, policy.exported\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'ppo'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_cli_so101_without_a_working_lerobot_exits_1_in_one_line(capsys, monkeypatch):
    def missing():
        raise DeployError("the real arm needs LeRobot ... pip install 'lerobot[feetech]'")
    monkeypatch.setattr(cli, "import_lerobot", missing)
    rc = cli.main(["--robot", "so101", "--port", "p", "--robot-id", "a", "--camera", "top=0"])
    out = capsys.readouterr().out
    assert rc == 1 and "pip install 'lerobot[feetech]'" in out and out.count("\n") == 1


def test_cli_runs_the_simulated_robot_and_writes_its_report(export_dir, tmp_path, capsys):
    out = tmp_path / "run.json"
    rc = cli.main(["--robot", "sim", "--residual", str(export_dir), "--pose", "truth", "--steps", "5",
                   "--seed", "1", "--json", str(out)])
    report = json.loads(out.read_text())
    assert rc == 0 and report["episodes"][0]["stop"] == "ran 5 steps"
    assert report["episodes"][0]["steps"] == 5
    assert "seed 1: success 0 (plausible 0) in 5 steps; ran 5 steps" in capsys.readouterr().out


def test_cli_dry_run_reads_once_and_sends_nothing(tmp_path, capsys):
    out = tmp_path / "dry.json"
    rc = cli.main(["--robot", "sim", "--dry-run", "--seed", "1", "--json", str(out)])
    row = json.loads(out.read_text())["episodes"][0]
    printed = capsys.readouterr().out
    assert rc == 0 and row["stop"] == "dry run" and row["pose"] is not None
    np.testing.assert_allclose(row["joints_sim"], HOME, atol=0.05)  # reset: home +- 0.05 rad
    assert "joints, sim rad:" in printed and "top camera: 224x224 px; sheet at x" in printed
