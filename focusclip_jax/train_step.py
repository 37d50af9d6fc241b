"""The contrastive train step: one ``jax.jit`` with in/out shardings and a donated state.

The step runs on *global* batch arrays (sharded over the batch mesh axes); the loss is written
on global arrays, so the partitioner inserts the collectives. A step whose loss, gradient or
update is not finite is not applied (parameters and optimizer state are kept) and counted in
``state.nonfinite_streak``; the loop stops after ``config.train.max_nonfinite_steps`` in a row.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections
import optax

from focusclip_jax import grad_cache
from focusclip_jax import losses
from focusclip_jax import models
from focusclip_jax import optimizer
from focusclip_jax import sharding as sharding_lib
from focusclip_jax import train_state as train_state_lib
from focusclip_jax.train_state import TrainState

# config.train.dropout_rng: jax PRNG implementations (rbg is cheaper to generate on TPU).
DROPOUT_RNG_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")


def embed(model, config, params, batch, rng, train: bool = True, **rows):
  """The embeddings {'image', 'text'[, 'focus']} of a batch (``rows``: see
  ``FocusCLIP.__call__``), traced at the configured matmul precision."""
  model_params, _ = losses.split_params(params)
  with models.matmul_precision(config):
    return models.apply_batch(model, {"params": model_params}, batch, train=train,
                              rngs={"dropout": rng} if train else None, **rows)


def objective(model, config, params, embeddings):
  """(loss, metrics) of the configured objective on a batch's embeddings."""
  model_params, loss_params = losses.split_params(params)
  with models.matmul_precision(config):
    loss, metrics = losses.objective(embeddings, loss_params, config)
  if model.focus:
    metrics["alpha"] = model.apply({"params": model_params}, method=model.effective_alpha)
  return loss, metrics


def loss_fn(model, config, params, batch, rng, train: bool = True):
  """(loss, metrics) of the configured objective on a batch."""
  return objective(model, config, params, embed(model, config, params, batch, rng, train))


def accumulated_value_and_grad(model, config, params, batch, rng, prepare=lambda p: p):
  """``jax.value_and_grad(loss_fn, has_aux=True)`` computed in micro-batches of
  ``config.train.microbatch_size`` (focusclip_jax/grad_cache.py): the same loss, metrics and
  gradients, with the activations of one micro-batch at a time. ``prepare`` maps the
  parameters before use (e.g. stops the gradient of frozen ones)."""
  num_rows = jax.tree.leaves(batch)[0].shape[0]
  if num_rows % config.train.microbatch_size:
    raise ValueError(f"a global batch of {num_rows} does not split into micro-batches of "
                     f"config.train.microbatch_size={config.train.microbatch_size}")
  if model.focus:
    # The control heatmaps are a function of the whole batch: chosen before the split.
    batch = dict(batch, heatmap=models.control_heatmaps(batch["heatmap"],
                                                        model.heatmap_source))

  def embed_fn(params, microbatch, rows):
    return embed(model, config, prepare(params), microbatch, rng, rows=rows,
                 num_rows=num_rows)

  def loss_of(params, embeddings):
    return objective(model, config, prepare(params), embeddings)

  return grad_cache.value_and_grad(embed_fn, loss_of, params, batch,
                                   num_rows // config.train.microbatch_size,
                                   unroll=config.train.microbatch_unroll)


def make_train_step(model, config: ml_collections.ConfigDict, tx: optax.GradientTransformation,
                    lr_schedule):
  """The (unjitted) step: (state, batch) -> (state, metrics)."""
  base_rng = jax.random.key(config.seed, impl=config.train.dropout_rng)
  frozen = None
  if config.optim.frozen:
    frozen = optimizer.frozen_mask(train_state_lib.abstract_train_params(model, config), config)

  def train_step(state: TrainState, batch):
    rng = jax.random.fold_in(base_rng, state.step)

    def prepare(params):
      if frozen is None:
        return params
      # Frozen parameters get no update anyway; stopping their gradient lets XLA drop
      # their backward pass (e.g. a locked text tower costs a forward pass only).
      return jax.tree.map(lambda p, f: jax.lax.stop_gradient(p) if f else p, params, frozen)

    if config.train.microbatch_size:
      (loss, metrics), grads = accumulated_value_and_grad(model, config, state.params, batch,
                                                          rng, prepare)
    else:
      (loss, metrics), grads = jax.value_and_grad(
          lambda p: loss_fn(model, config, prepare(p), batch, rng), has_aux=True)(state.params)
    grad_norm = optimizer.global_norm(grads)
    # The candidate update's finiteness is part of the decision: a finite gradient can still
    # give a non-finite update (a learning rate or optimizer state that overflows). Its norm
    # is finite iff every element is (an update whose norm overflows float32 counts as
    # non-finite too). The optimizer state needs no check of its own: SGD's trace and Adam's
    # moments accumulate the (finite) gradients, and the update is computed from them.
    candidate_norm = optimizer.global_norm(tx.update(grads, state.opt_state, state.params)[0])
    finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & jnp.isfinite(candidate_norm)

    # A conditional rather than a select over every leaf: the skipped branch passes the state
    # through, and the applied one writes the new state without a second pass over the
    # parameters and optimizer state (measured in BENCHMARKS.md). The applied branch
    # recomputes the update: the norm above then fuses into one read-only pass, where passing
    # the candidate optimizer state into the conditional would copy it.
    def apply(params, opt_state):
      updates, new_opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), new_opt_state

    def skip(params, opt_state):
      return params, opt_state

    new_params, new_opt_state = jax.lax.cond(finite, apply, skip, state.params, state.opt_state)
    update_norm = jnp.where(finite, candidate_norm, 0.0)
    new_state = state.replace(
        step=state.step + 1,
        params=new_params,
        opt_state=new_opt_state,
        nonfinite_streak=jnp.where(finite, 0, state.nonfinite_streak + 1),
    )
    metrics.update(
        grad_norm=grad_norm,
        param_norm=optimizer.global_norm(new_state.params),
        update_norm=update_norm,  # of the update applied (0 when the step is skipped)
        learning_rate=lr_schedule(state.step),
        nonfinite=(~finite).astype(jnp.int32),
        nonfinite_streak=new_state.nonfinite_streak,
    )
    return new_state, metrics

  return train_step


def jit_train_step(train_step, state_shardings: TrainState, mesh, config):
  """jax.jit with explicit shardings; the state is donated."""
  return jax.jit(
      train_step,
      in_shardings=(state_shardings, sharding_lib.batch_sharding(mesh, config)),
      out_shardings=(state_shardings, sharding_lib.replicated(mesh)),
      donate_argnums=(0,),
  )


def build_step(model, config: ml_collections.ConfigDict, tx: optax.GradientTransformation,
               lr_schedule, mesh):
  """The jitted step ``train.py`` runs: ``make_train_step`` under ``jit_train_step`` with the
  train state's shardings on ``mesh``."""
  return jit_train_step(make_train_step(model, config, tx, lr_schedule),
                        train_state_lib.state_shardings(model, config, tx, mesh), mesh, config)


def make_eval_step(model, config, mesh):
  """Jitted (params, batch) -> metrics of the objective in inference mode (no update)."""
  def eval_step(params, batch):
    _, metrics = loss_fn(model, config, params, batch, rng=None, train=False)
    return metrics
  return jax.jit(eval_step, out_shardings=sharding_lib.replicated(mesh))


def compile_train_step(jitted, model, config, tx, mesh, global_batch_size: int | None = None):
  """AOT-compiles the step for the abstract train state and a global batch of
  ``global_batch_size`` (default ``config.train.batch_size``); returns (compiled, memory
  analysis or None, cost analysis)."""
  state = train_state_lib.abstract_state(model, config, tx, mesh)
  batch = abstract_batch(config, mesh, global_batch_size)
  with sharding_lib.mesh_context(mesh, config):
    compiled = jitted.lower(state, batch).compile()
  try:
    memory = compiled.memory_analysis()
  except Exception:  # pylint: disable=broad-except  (not every backend implements it)
    memory = None
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0] if cost else {}
  return compiled, memory, cost or {}


def abstract_batch(config, mesh, global_batch_size: int | None = None):
  """ShapeDtypeStructs of a global training batch with its sharding."""
  b = global_batch_size or config.train.batch_size
  sh = sharding_lib.batch_sharding(mesh, config)
  batch = models.example_batch(config, batch_size=b, abstract=True)
  return {k: jax.ShapeDtypeStruct(v.shape, v.dtype, sharding=sh) for k, v in batch.items()}
