"""Contrastive-correct gradient accumulation (GradCache; Gao et al. 2021, arXiv 2101.06983).

A contrastive loss couples every example of the batch with every other, so summing the
gradients of per-micro-batch losses is wrong: each micro-batch would see only its own
negatives. ``value_and_grad`` computes the gradient of the loss of the *whole* batch while
keeping the activations of one micro-batch at a time:

  1. embed the batch micro-batch by micro-batch, keeping only the embeddings (``lax.scan``);
  2. the loss of the whole batch and its gradient with respect to the embeddings (and the
     parameters the loss reads directly, such as a learned temperature);
  3. for each micro-batch, its forward again and a backward pass seeded with its rows of the
     embedding gradient; the parameter gradients are summed in float32 (``lax.scan``).

The result equals ``jax.value_and_grad`` of the loss of the unsplit batch up to float summation
order, provided the forward of a micro-batch computes exactly its rows of the whole batch's
forward -- dropout included, which ``embed_fn`` ensures by drawing masks at the rows' global
positions (models/layers.py, ``Dropout(rows=)``). The cost is one more forward pass.

Micro-batch k holds the rows k, k + M, k + 2M, ... of the batch (M micro-batches): the batch
arrives split into contiguous per-device blocks, and with this interleaving every micro-batch
is spread over all devices without moving data (the split is a reshape; it needs the
micro-batch size to be a multiple of the number of batch shards).
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

PyTree = Any


def split(x, num_microbatches: int):
  """[B, ...] -> [M, B / M, ...]; micro-batch k is rows k, k + M, k + 2M, ... of ``x``."""
  b = x.shape[0]
  if b % num_microbatches:
    raise ValueError(f"a batch of {b} does not split into {num_microbatches} micro-batches")
  x = x.reshape((b // num_microbatches, num_microbatches) + x.shape[1:])
  x = jnp.swapaxes(x, 0, 1)
  # Each micro-batch stays split over the batch shards (a no-op outside a mesh context).
  return nn.with_logical_constraint(x, (None, "act_batch") + (None,) * (x.ndim - 2))


def merge(x):
  """The inverse of ``split``: [M, B / M, ...] -> [B, ...] in the original row order."""
  x = jnp.swapaxes(x, 0, 1)
  x = x.reshape((-1,) + x.shape[2:])
  return nn.with_logical_constraint(x, ("act_batch",) + (None,) * (x.ndim - 1))


def value_and_grad(embed_fn: Callable[[PyTree, PyTree, jax.Array], PyTree],
                   loss_fn: Callable[[PyTree, PyTree], tuple[jax.Array, Any]],
                   params: PyTree, batch: PyTree, num_microbatches: int, unroll: bool = False):
  """((loss, aux), grads) of ``loss_fn(params, embed_fn(params, batch, rows))``.

  ``embed_fn(params, microbatch, rows)``: the embeddings (a pytree of [b, ...] arrays) of a
  micro-batch holding the batch rows ``rows`` (int32 [b]); it must compute exactly those
  rows of the whole batch's embeddings. ``loss_fn(params, embeddings)``: (scalar, aux) on the
  whole batch's embeddings. Gradients have the parameters' dtypes. ``unroll``: the two loops
  over the micro-batches unrolled (``lax.scan(unroll=True)``): the compiler may then schedule
  the micro-batches' work together, so the memory bound is no longer guaranteed
  (``config.train.microbatch_unroll``; on XLA:CPU a loop runs convolution gradients several
  times slower, BENCHMARKS.md).
  """
  micro = jax.tree.map(lambda x: split(x, num_microbatches), batch)
  batch_size = jax.tree.leaves(batch)[0].shape[0]
  rows = split(jnp.arange(batch_size, dtype=jnp.int32), num_microbatches)

  def forward(_, xs):
    mb, r = xs
    return None, jax.lax.stop_gradient(embed_fn(params, mb, r))

  _, emb = jax.lax.scan(forward, None, (micro, rows), unroll=unroll)
  emb = jax.tree.map(merge, emb)
  (loss, aux), (loss_grads, emb_grads) = jax.value_and_grad(
      loss_fn, argnums=(0, 1), has_aux=True)(params, emb)
  emb_grads = jax.tree.map(lambda g: split(g, num_microbatches), emb_grads)

  def backward(acc, xs):
    mb, r, cotangent = xs
    _, vjp = jax.vjp(lambda p: embed_fn(p, mb, r), params)
    (grads,) = vjp(cotangent)
    return jax.tree.map(lambda a, g: a + g.astype(jnp.float32), acc, grads), None

  acc = jax.tree.map(lambda p: jnp.zeros(p.shape, jnp.float32), params)
  acc, _ = jax.lax.scan(backward, acc, (micro, rows, emb_grads), unroll=unroll)
  grads = jax.tree.map(lambda a, g, p: (a + g.astype(jnp.float32)).astype(p.dtype),
                       acc, loss_grads, params)
  return (loss, aux), grads
