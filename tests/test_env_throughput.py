"""Benchmark records name the command that produced them, whichever benchmark is running."""
import sys
from types import ModuleType, SimpleNamespace

from benchmarks.env_throughput import command


def test_the_recorded_command_is_the_running_module(monkeypatch):
    main = ModuleType("__main__")
    main.__spec__ = SimpleNamespace(name="benchmarks.setpoint_filter")
    monkeypatch.setitem(sys.modules, "__main__", main)
    monkeypatch.setattr(sys, "argv", ["/x/setpoint_filter.py", "--noise", "0.05"])
    assert command().endswith("-m benchmarks.setpoint_filter --noise 0.05")
    main.__spec__ = None  # run as a script path
    assert command().endswith(" /x/setpoint_filter.py --noise 0.05")
