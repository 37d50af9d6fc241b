"""Process start-up: ``config.xla_flags`` and ``jax.distributed.initialize``.

Cloud TPU pods and SLURM/Open MPI jobs are detected by JAX itself; explicit coordinator
flags (GPU/CPU clusters) take precedence. Both must run before anything touches JAX devices.
"""

from __future__ import annotations

import logging
import os

import jax
from jax._src import xla_bridge  # backends_are_initialized: no public equivalent


def apply_xla_flags(flags: str) -> None:
  """Adds ``flags`` (``config.xla_flags``) to $XLA_FLAGS; XLA reads them when JAX starts its
  backend, so this must come first. Flags already there are not added twice."""
  missing = [f for f in flags.split() if f not in os.environ.get("XLA_FLAGS", "").split()]
  if not missing:
    return
  if xla_bridge.backends_are_initialized():
    raise RuntimeError(
        f"config.xla_flags {missing} cannot take effect: JAX has already started its backend in "
        "this process. Apply them first (distributed.apply_xla_flags, as main.py does), set "
        "XLA_FLAGS in the environment, or clear config.xla_flags.")
  os.environ["XLA_FLAGS"] = " ".join([os.environ.get("XLA_FLAGS", ""), *missing]).strip()
  logging.info("XLA_FLAGS=%s", os.environ["XLA_FLAGS"])


def _cluster_detected() -> bool:
  hosts = os.environ.get("TPU_WORKER_HOSTNAMES", "")
  if "," in hosts:
    return True
  for var in ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
    if int(os.environ.get(var, "1") or 1) > 1:
      return True
  return False


def maybe_initialize(coordinator_address: str | None = None, num_processes: int | None = None,
                     process_id: int | None = None, mode: str = "auto") -> bool:
  """Initialises the distributed runtime when asked or detected; returns whether it did.

  mode: 'auto' (explicit flags, or a detected multi-host TPU / SLURM / MPI job), 'on', 'off'.
  """
  if mode == "off":
    return False
  explicit = coordinator_address is not None or num_processes is not None
  if mode == "auto" and not explicit and not _cluster_detected():
    return False
  kwargs = {}
  if coordinator_address is not None:
    kwargs["coordinator_address"] = coordinator_address
  if num_processes is not None:
    kwargs["num_processes"] = num_processes
  if process_id is not None:
    kwargs["process_id"] = process_id
  jax.distributed.initialize(**kwargs)
  logging.info("jax.distributed initialised: process %d of %d", jax.process_index(),
               jax.process_count())
  return True
