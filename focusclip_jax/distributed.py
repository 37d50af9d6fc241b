"""Multi-process start-up: ``jax.distributed.initialize`` when running on several processes.

Cloud TPU pods and SLURM/Open MPI jobs are detected by JAX itself; explicit coordinator
flags (GPU/CPU clusters) take precedence. Must run before anything touches JAX devices.
"""

from __future__ import annotations

import logging
import os

import jax


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
