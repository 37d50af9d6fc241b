"""Device mesh, logical-axis -> mesh-axis shardings, and global batches from per-process data.

The model annotates parameters and activations with logical axis names (models/layers.py);
``config.sharding.logical_axis_rules`` maps them to the mesh axes declared in
``config.sharding.mesh``. The defaults give data parallelism over ``data`` and FSDP over
``fsdp`` (parameters' ``embed`` dimension sharded, batch sharded over both axes).
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import ml_collections
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P


def mesh_shape(axes: Sequence[tuple[str, int]], num_devices: int) -> tuple[tuple[str, ...],
                                                                              tuple[int, ...]]:
  """Resolves a -1 axis size to the remaining devices; checks the product."""
  names = tuple(a for a, _ in axes)
  sizes = [int(n) for _, n in axes]
  known = math.prod(n for n in sizes if n != -1)
  if -1 in sizes:
    if num_devices % known:
      raise ValueError(
          f"config.sharding.mesh {tuple(axes)}: {num_devices} devices are not divisible by the "
          f"fixed axes' product {known}")
    sizes[sizes.index(-1)] = num_devices // known
  if math.prod(sizes) != num_devices:
    raise ValueError(
        f"config.sharding.mesh {tuple(axes)} needs {math.prod(sizes)} devices but "
        f"{num_devices} are available; use -1 for one axis to take the remaining devices")
  return names, tuple(sizes)


def create_mesh(config: ml_collections.ConfigDict, devices=None) -> jax.sharding.Mesh:
  devices = list(jax.devices() if devices is None else devices)
  platforms = sorted({d.platform for d in devices})
  if config.model.text.get("attention_kernel") == "pallas_tpu" and platforms != ["tpu"]:
    raise ValueError(
        "config.model.text.attention_kernel = 'pallas_tpu' (a Pallas TPU kernel) runs on TPU "
        f"only, these devices are {platforms}: set config.model.text.attention_kernel = 'xla'")
  names, sizes = mesh_shape(config.sharding.mesh, len(devices))
  return jax.make_mesh(sizes, names, axis_types=(jax.sharding.AxisType.Auto,) * len(names),
                       devices=devices)


def rules(config: ml_collections.ConfigDict) -> tuple[tuple[str, Any], ...]:
  return tuple((name, tuple(axes) if isinstance(axes, (list, tuple)) else axes)
               for name, axes in config.sharding.logical_axis_rules)


@contextlib.contextmanager
def mesh_context(mesh, config):
  """Mesh + logical axis rules, needed while tracing the model (activation constraints)."""
  with jax.set_mesh(mesh), nn.logical_axis_rules(rules(config)):
    yield


def logical_to_shardings(logical_specs, mesh, config):
  """Pytree of logical PartitionSpecs -> pytree of NamedShardings on ``mesh``."""
  return nn.logical_to_mesh_sharding(logical_specs, mesh, rules(config))


def batch_axes(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """Mesh axes the global batch is split over (what 'act_batch' maps to)."""
  for name, axes in rules(config):
    if name == "act_batch":
      if axes is None:
        return ()
      return tuple(axes) if isinstance(axes, tuple) else (axes,)
  return ()


def batch_sharding(mesh, config) -> NamedSharding:
  """Sharding of batch arrays: leading axis over the batch axes, the rest replicated."""
  return NamedSharding(mesh, P(batch_axes(config) or None))


def replicated(mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def global_batch_size_divisor(mesh, config) -> int:
  return math.prod(mesh.shape[a] for a in batch_axes(config))


def make_global_batch(local_batch: dict[str, np.ndarray], sharding: NamedSharding):
  """This process's slice of the batch -> global ``jax.Array``s (multi-host safe)."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)),
                      local_batch)
