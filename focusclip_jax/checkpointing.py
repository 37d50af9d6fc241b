"""Orbax checkpoints: the train state during training, params-only exports for inference.

Layout of a workdir:
  config.json                       the run's config (written by process 0)
  checkpoints/<step>/state          the TrainState (Orbax StandardSave)
  checkpoints/<step>/config         the config again (JSON), so a step is self-contained

Saves are asynchronous and atomic (Orbax writes into a temporary directory and renames it on
completion; interrupted writes are never listed and are cleaned up at start-up). The latest
``train.keep_checkpoints`` are kept plus every ``train.keep_every_steps``-th.

A checkpoint never holds NaN/Inf: ``Checkpointer.save`` checks the state on device first and
refuses (``NonFiniteStateError``) instead of overwriting the history with a broken state. A
step that is already saved (or being saved) is not saved again.

Restores always target the abstract state of the *current* mesh (shape, dtype, sharding), so
a checkpoint written on 8 devices restores on 1. ``load_for_inference(path)`` needs no train
state and no accelerator: it reads only the parameters, as NumPy arrays (what Colab uses).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as cm
from etils import epath

from focusclip_jax import config_lib
from focusclip_jax import losses
from focusclip_jax import models

CHECKPOINT_DIR = "checkpoints"
EXPORT_PARAMS_DIR = "params"


def config_to_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  return json.loads(config.to_json_best_effort())


def _tuplify(x):
  if isinstance(x, list):
    return tuple(_tuplify(v) for v in x)
  if isinstance(x, dict):
    return {k: _tuplify(v) for k, v in x.items()}
  return x


def config_from_json(d: dict[str, Any]) -> ml_collections.ConfigDict:
  """Inverse of ``config_to_json`` (lists back to tuples), merged over the current schema.

  Fields added to the schema after the checkpoint was written keep their defaults.
  """
  config = config_lib.base_config()

  def merge(node, values, prefix=""):
    for k, v in values.items():
      if k not in node:
        logging.warning("Ignoring config field %s%s unknown to this version", prefix, k)
        continue
      if isinstance(node[k], ml_collections.ConfigDict):
        merge(node[k], v, f"{prefix}{k}.")
      else:
        node[k] = _tuplify(v)

  merge(config, d)
  return config


def config_changes(old: dict | None, new: dict) -> list[str]:
  """'key: old -> new' for each config field whose value differs (nested dicts flattened);
  none when the old config is unknown (``old`` None: a checkpoint without one)."""
  if old is None:
    return []

  def flat(d, prefix=""):
    out = {}
    for k, v in (d or {}).items():
      out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out
  a, b = flat(old), flat(new)
  return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in sorted(set(a) | set(b))
          if a.get(k) != b.get(k)]


def write_config(workdir: str, config) -> None:
  if jax.process_index() == 0:
    path = epath.Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config_to_json(config), indent=2))


class NonFiniteStateError(RuntimeError):
  """The state to be saved holds NaN or Inf; nothing was written."""


@jax.jit
def _leaves_finite(leaves):
  """One bool per floating-point leaf: all its elements are finite (a reduction on device)."""
  return jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves])


def nonfinite_leaves(tree) -> list[str]:
  """Paths of the floating-point leaves of ``tree`` that hold a NaN or Inf.

  Runs as one jitted reduction where the arrays live (sharded arrays of several processes
  included; every process must call it) and fetches one bool per leaf.
  """
  flat = [(jax.tree_util.keystr(path), x) for path, x in jax.tree_util.tree_leaves_with_path(tree)
          if jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
  if not flat:
    return []
  ok = _leaves_finite([x for _, x in flat])
  ok = np.asarray(ok if ok.is_fully_addressable else ok.addressable_data(0))
  return [name for (name, _), good in zip(flat, ok) if not good]


class Checkpointer:
  """Train-state checkpoints of one workdir."""

  def __init__(self, workdir: str, config: ml_collections.ConfigDict,
               async_save: bool = True):
    self.directory = epath.Path(workdir) / CHECKPOINT_DIR
    self.config_json = config_to_json(config)
    t = config.train
    keep = [cm.preservation_policy.LatestN(t.keep_checkpoints)]
    if t.keep_every_steps:
      keep.append(cm.preservation_policy.EveryNSteps(t.keep_every_steps))
    options = ocp.CheckpointManagerOptions(
        # Every N steps (no save at the first step), or when all processes reach JAX's
        # preemption sync point.
        save_decision_policy=cm.AnySavePolicy([
            cm.FixedIntervalPolicy(t.checkpoint_every_steps),
            cm.PreemptionCheckpointingPolicy()]),
        preservation_policy=cm.AnyPreservationPolicy(keep),
        enable_async_checkpointing=async_save,
        cleanup_tmp_directories=True,
        create=True,
    )
    # Orbax splits the write of an array replicated over N devices into N slices, one per
    # replica, each cut by an op-by-op slice on the device: worth it for large arrays, a cost
    # for small ones (a tiny model on 8 CPU devices: 13.3 s -> 2.7 s for the first save,
    # BENCHMARKS.md). Arrays whose slice would be smaller than this are written whole by one
    # replica. (A process-wide registration: Orbax reads jax.Array's handler from it.)
    ocp.type_handlers.register_type_handler(
        jax.Array, ocp.type_handlers.ArrayHandler(
            min_slice_bytes_for_replica_parallel=t.checkpoint_min_replica_slice_bytes),
        override=True)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "config"))

  def latest_step(self) -> int | None:
    return self.manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self.manager.all_steps())

  def save(self, step: int, state, force: bool = False) -> bool:
    """Saves if the save policy (every N steps, preemption) or ``force`` says so.

    Returns whether this call started a save. A step that is already saved or being saved
    (e.g. by the regular schedule, or by Orbax's preemption policy inside an earlier call)
    is not saved again. Raises ``NonFiniteStateError`` instead of writing NaN/Inf.
    """
    step = int(step)
    if step in self.manager.all_steps():  # includes a save still in flight
      return False
    if not force and not self.manager.should_save(step):
      return False
    bad = nonfinite_leaves(state)
    if bad:
      latest = self.latest_step()
      raise NonFiniteStateError(
          f"Refusing to write checkpoint step {step} to {self.directory}: the train state "
          f"holds NaN/Inf in {len(bad)} arrays ({', '.join(bad[:4])}"
          f"{', ...' if len(bad) > 4 else ''}). The checkpoints already there are untouched "
          f"(latest: {'none' if latest is None else f'step {latest}'}). Lower "
          "config.optim.learning_rate or keep config.optim.grad_clip_norm > 0 and resume.")
    return self.manager.save(
        step,
        args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                config=ocp.args.JsonSave(self.config_json)),
        force=True)  # the decision was made above

  def restore(self, abstract_state, step: int | None = None):
    """Restores the state at ``step`` (default latest) onto the shardings of ``abstract_state``."""
    step = self.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f"No checkpoint in {self.directory}")
    restored = self.manager.restore(
        step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state)))
    return restored["state"]

  def saved_config(self, step: int | None = None) -> dict | None:
    """The config JSON saved with checkpoint ``step`` (default latest); None if unreadable."""
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    try:
      return self.manager.restore(
          step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))["config"]
    except Exception:  # pylint: disable=broad-except  (older checkpoints, partial copies)
      return None

  def reached_preemption(self, step: int) -> bool:
    """Multi-host preemption notice (JAX's preemption sync point); False when unavailable."""
    return self.manager.reached_preemption(step)

  def wait(self):
    self.manager.wait_until_finished()

  def close(self):
    self.manager.wait_until_finished()
    self.manager.close()


# ---------------------------------------------------------------------- inference loading


def _numpy_restore(path: epath.Path, subtree: tuple[str, ...] = ()):
  """Restores (a subtree of) a PyTree checkpoint as host NumPy arrays, on any machine."""
  checkpointer = ocp.PyTreeCheckpointer()
  meta = checkpointer.metadata(path)
  tree = meta.item_metadata.tree if hasattr(meta, "item_metadata") else meta.tree
  for key in subtree:
    tree = tree[key]
  item = tree
  for key in reversed(subtree):
    item = {key: item}
  restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), item)
  restored = checkpointer.restore(
      path, args=ocp.args.PyTreeRestore(item=item, restore_args=restore_args,
                                        partial_restore=True))
  for key in subtree:
    restored = restored[key]
  return restored


def export_params(path: str, params, config: ml_collections.ConfigDict) -> str:
  """Writes a params-only checkpoint (+ config.json) that ``load_for_inference`` reads.

  ``params``: model or train parameters; only the model's are written.
  """
  model_params, _ = losses.split_params(params)
  out = epath.Path(path)
  out.mkdir(parents=True, exist_ok=True)
  ckpt = ocp.StandardCheckpointer()
  ckpt.save(out / EXPORT_PARAMS_DIR, model_params, force=True)
  ckpt.wait_until_finished()
  if jax.process_index() == 0:
    (out / "config.json").write_text(json.dumps(config_to_json(config), indent=2))
  return str(out)


def _resolve(path: epath.Path) -> tuple[str, epath.Path, epath.Path]:
  """-> (kind, params/state path, config path) for a workdir, step dir or export dir."""
  if (path / EXPORT_PARAMS_DIR).exists() and (path / "config.json").exists():
    return "export", path / EXPORT_PARAMS_DIR, path / "config.json"
  if (path / "state").exists():  # a checkpoint step directory
    return "state", path / "state", path / "config" / "metadata"
  ckpt_dir = path / CHECKPOINT_DIR if (path / CHECKPOINT_DIR).exists() else path
  steps = sorted(int(p.name) for p in ckpt_dir.iterdir() if p.name.isdigit()) if (
      ckpt_dir.exists()) else []
  if steps:
    step_dir = ckpt_dir / str(steps[-1])
    return "state", step_dir / "state", step_dir / "config" / "metadata"
  raise FileNotFoundError(
      f"No FocusCLIP checkpoint at {path}: expected a workdir (with checkpoints/<step>/), a "
      f"checkpoint step directory (with state/), or an export (with {EXPORT_PARAMS_DIR}/ and "
      "config.json).")


def resolve_checkpoint_dir(path: str) -> str:
  """The directory ``load_for_inference(path)`` reads: a step dir or an export dir."""
  kind, params_path, _ = _resolve(epath.Path(path))
  return str(params_path.parent)


def load_for_inference(path: str):
  """-> (model, params, config) from a workdir, a checkpoint step dir, or an export.

  Only the model parameters are read (no optimizer state), as NumPy arrays, so this works on
  a CPU-only machine whatever device count wrote the checkpoint.
  """
  kind, params_path, config_path = _resolve(epath.Path(path))
  if not config_path.exists() and kind == "state":
    config_path = params_path.parent.parent.parent / "config.json"
  config = config_from_json(json.loads(config_path.read_text()))
  if kind == "export":
    params = _numpy_restore(params_path)
  else:
    params, _ = losses.split_params(_numpy_restore(params_path, ("params",)))
  model = models.build_model(config)
  return model, params, config

