"""Several processes (hosts) as one training run, with JAX's own runtime (`jax.distributed`).

Every process runs the same `python -m ppo.train` command; `jax.distributed.initialize` joins
them, after which `jax.devices()` lists every process's devices and the mesh of
`ppo.sharding` spans them all: each process steps the envs on its own devices, and the update
is one program over all of them. Process 0 writes the logs, plots and evaluation; every process
takes part in each (orbax) checkpoint.

Where the cluster comes from, first match wins:
  1. the flags `--coordinator HOST:PORT --num-processes N --process-id I`;
  2. the environment: `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`;
  3. a SLURM job step with more than one task (`srun`): JAX reads SLURM's variables itself.
Otherwise the run is one process, as before.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import jax

ENV_VARS = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


@dataclass(frozen=True)
class Cluster:
    coordinator: str | None = None  # host:port of process 0's coordination service
    num_processes: int | None = None
    process_id: int | None = None

    @property
    def given(self) -> bool:
        return any(v is not None for v in (self.coordinator, self.num_processes, self.process_id))


def resolve(flags: Cluster, environ=os.environ) -> Cluster | None:
    """The cluster to join: `flags` if any is set, else the `ENV_VARS`, else "slurm" auto-detect
    (an empty Cluster), else None (one process). ValueError, before anything starts, for a
    partial or inconsistent description."""
    if not flags.given and environ.get(ENV_VARS[0]):
        flags = Cluster(environ.get(ENV_VARS[0]), _int(environ, ENV_VARS[1]), _int(environ, ENV_VARS[2]))
    if flags.given:
        missing = [name for name, v in zip(("--coordinator", "--num-processes", "--process-id"),
                                           (flags.coordinator, flags.num_processes, flags.process_id))
                   if v is None]
        if missing:
            raise ValueError(f"a multi-process run needs --coordinator, --num-processes and "
                             f"--process-id (or {', '.join(ENV_VARS)}); missing {', '.join(missing)}")
        host, _, port = flags.coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"--coordinator must be HOST:PORT, got {flags.coordinator!r}")
        if flags.num_processes < 1 or not 0 <= flags.process_id < flags.num_processes:
            raise ValueError(f"--process-id must be in 0..{flags.num_processes - 1} and "
                             f"--num-processes >= 1, got {flags.process_id} of {flags.num_processes}")
        return flags
    if int(environ.get("SLURM_NTASKS", "1") or 1) > 1 and "SLURM_STEP_ID" in environ:
        return Cluster()  # jax.distributed.initialize() reads SLURM's variables
    return None


def _int(environ, name: str) -> int | None:
    value = environ.get(name)
    if value is None:
        return None
    if not value.lstrip("-").isdigit():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(value)


def initialize(cluster: Cluster | None) -> None:
    """Join the cluster (no-op for None). Must run before anything touches a JAX device."""
    if cluster is None:
        return
    jax.distributed.initialize(cluster.coordinator, cluster.num_processes, cluster.process_id)


def barrier(name: str, timeout_s: float = 1800.0) -> None:
    """Wait until every process reaches `name` (the coordination service's barrier, no device
    collective), so that the first collective after a compilation finds all processes ready:
    CPU (gloo) collectives give up after 30 s, and compile times differ between hosts.
    A no-op in a one-process run."""
    if jax.process_count() == 1:
        return
    from jax._src import distributed as jax_distributed  # the client jax.distributed started

    jax_distributed.global_state.client.wait_at_barrier(f"ppo:{name}", int(timeout_s * 1000))


def is_main() -> bool:
    """Whether this process writes logs and reports (process 0)."""
    return jax.process_index() == 0
