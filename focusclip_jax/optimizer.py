"""The optax optimizer from ``config.optim``.

  clip_by_global_norm(grad_clip_norm)             (trainable parameters only)
  -> sgd(momentum, nesterov) | adamw(b1, b2, eps, weight_decay on kernels only)
  -> per-group learning-rate multipliers           (``optim.lr_multipliers``)
Parameters matching ``optim.frozen`` get no update and no optimizer state.

Reference: SGD, momentum 0.9, lr 5e-4 constant, no weight decay, clip 1.0 (= torch SGD:
v = mu v + g; p -= lr v, and Lightning's gradient_clip_val).
Parameter paths are '/'-joined, e.g. ``text_tower/encoder/block_3/mlp/fc1/kernel``, ``alpha``,
``loss/log_temperature``.
"""

from __future__ import annotations

import re
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import optax


def param_paths(params):
  """Pytree of '/'-joined path strings with the structure of ``params``."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path),
      params)


def _matches(patterns, path: str) -> bool:
  return any(re.fullmatch(p, path) for p in patterns)


def frozen_mask(params, config) -> dict:
  """True for parameters that ``config.optim.frozen`` freezes."""
  return jax.tree.map(lambda p: _matches(config.optim.frozen, p), param_paths(params))


def decay_mask(params):
  """Weight decay applies to dense/conv kernels only: not to norms, biases, embeddings, alpha."""
  return jax.tree.map(lambda p: p.rsplit("/", 1)[-1] == "kernel", param_paths(params))


def lr_multipliers(params, config):
  def mult(path):
    for pattern, m in config.optim.lr_multipliers:
      if re.fullmatch(pattern, path):
        return float(m)
    return 1.0
  return jax.tree.map(mult, param_paths(params))


OPTIMIZERS = ("sgd", "adamw")  # config.optim.name
SCHEDULES = ("constant", "warmup_cosine")  # config.optim.schedule


def schedule(config: ml_collections.ConfigDict, total_steps: int) -> Callable[[int], jax.Array]:
  o = config.optim
  if o.schedule == "constant":
    return optax.constant_schedule(o.learning_rate)
  if o.schedule == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=o.learning_rate, warmup_steps=o.warmup_steps,
        decay_steps=max(total_steps, o.warmup_steps + 1), end_value=o.end_lr_factor * o.learning_rate)
  raise ValueError(f"config.optim.schedule {o.schedule!r} unknown")


def _scale_by_tree(multipliers) -> optax.GradientTransformation:
  def init(params):
    del params
    return optax.EmptyState()

  def update(updates, state, params=None):
    del params
    return jax.tree.map(lambda u, m: u * m if m != 1.0 else u, updates, multipliers), state

  return optax.GradientTransformation(init, update)


def build(config: ml_collections.ConfigDict, params, total_steps: int):
  """Returns (optax transformation, learning-rate schedule) for ``params``."""
  o = config.optim
  lr = schedule(config, total_steps)
  if o.name == "sgd":
    base = optax.sgd(lr, momentum=o.momentum or None, nesterov=o.nesterov)
    if o.weight_decay:
      base = optax.chain(optax.add_decayed_weights(o.weight_decay, decay_mask(params)), base)
  elif o.name == "adamw":
    base = optax.adamw(lr, b1=o.b1, b2=o.b2, eps=o.eps, weight_decay=o.weight_decay,
                       mask=decay_mask(params))
  else:
    raise ValueError(f"config.optim.name {o.name!r} unknown")
  parts = []
  if o.grad_clip_norm and o.grad_clip_norm > 0:
    parts.append(optax.clip_by_global_norm(o.grad_clip_norm))
  parts.append(base)
  tx = optax.chain(*parts)
  frozen = frozen_mask(params, config)
  if any(jax.tree.leaves(frozen)):
    labels = jax.tree.map(lambda f: "frozen" if f else "train", frozen)
    tx = optax.multi_transform({"train": tx, "frozen": optax.set_to_zero()}, labels)
  mults = lr_multipliers(params, config)
  if any(m != 1.0 for m in jax.tree.leaves(mults)):
    tx = optax.chain(tx, _scale_by_tree(mults))
  return tx, lr


def global_norm(tree) -> jax.Array:
  return optax.global_norm(jax.tree.map(lambda x: x.astype(jnp.float32), tree))


def count_trainable(params, config) -> int:
  frozen = frozen_mask(params, config)
  return int(sum(x.size for x, f in zip(jax.tree.leaves(params), jax.tree.leaves(frozen))
                 if not f))

