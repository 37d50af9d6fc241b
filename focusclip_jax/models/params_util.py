"""Helpers for plain parameter pytrees: '/'-joined paths, and scanned <-> unscanned layers."""

from __future__ import annotations

import re
from typing import Any, Mapping

import jax
import numpy as np

_BLOCK = re.compile(r"block_(\d+)")


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
  """{'a': {'b': x}} -> {'a/b': x}."""
  out = {}
  for k, v in tree.items():
    path = f"{prefix}{k}"
    if isinstance(v, Mapping):
      out.update(flatten(v, path + "/"))
    else:
      out[path] = v
  return out


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
  """{'a/b': x} -> {'a': {'b': x}}."""
  out: dict[str, Any] = {}
  for path, v in flat.items():
    node = out
    *parents, leaf = path.split("/")
    for p in parents:
      node = node.setdefault(p, {})
    node[leaf] = v
  return out


def _is_unscanned_encoder(node) -> bool:
  return isinstance(node, Mapping) and node and all(_BLOCK.fullmatch(k) for k in node)


def stack_layers(tree: Mapping[str, Any]) -> dict[str, Any]:
  """Turns every ``encoder: {block_0..block_{n-1}}`` into ``encoder: {layers: stacked}``."""
  out = {}
  for k, v in tree.items():
    if k == "encoder" and _is_unscanned_encoder(v):
      blocks = [v[f"block_{i}"] for i in range(len(v))]
      out[k] = {"layers": jax.tree.map(_stack, *blocks)}
    elif isinstance(v, Mapping):
      out[k] = stack_layers(v)
    else:
      out[k] = v
  return out


def _index(x, i):
  if isinstance(x, jax.ShapeDtypeStruct):
    return jax.ShapeDtypeStruct(x.shape[1:], x.dtype)
  return x[i]


def _stack(*xs):
  if isinstance(xs[0], jax.ShapeDtypeStruct):
    return jax.ShapeDtypeStruct((len(xs), *xs[0].shape), xs[0].dtype)
  return np.stack(xs)


def unstack_layers(tree: Mapping[str, Any]) -> dict[str, Any]:
  """Inverse of ``stack_layers``."""
  out = {}
  for k, v in tree.items():
    if k == "encoder" and isinstance(v, Mapping) and set(v) == {"layers"}:
      n = jax.tree.leaves(v["layers"])[0].shape[0]
      out[k] = {f"block_{i}": jax.tree.map(lambda x, i=i: _index(x, i), v["layers"])
                for i in range(n)}
    elif isinstance(v, Mapping):
      out[k] = unstack_layers(v)
    else:
      out[k] = v
  return out


def count_params(tree) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(tree)))
