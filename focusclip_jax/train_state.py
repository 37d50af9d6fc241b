"""The train state, its shardings, and its creation directly on the mesh.

Its ``params`` are the *train parameters*: the model's parameters (``models.init_params``)
joined with the objective's learnable ones (``losses.join_params``, key ``losses.PARAMS_KEY``).

Chain (MaxText / flax lm1b idiom): abstract state (``jax.eval_shape``) -> logical axis names
-> ``NamedSharding``s on the mesh -> ``jax.jit(init, out_shardings=...)``, so parameters and
optimizer state are born sharded; the same abstract state (with shardings) is the Orbax
restore target, which makes checkpoints restorable on any device count.
"""

from __future__ import annotations

from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from focusclip_jax import losses
from focusclip_jax import models
from focusclip_jax import sharding as sharding_lib


@flax.struct.dataclass
class TrainState:
  step: jax.Array  # steps taken (skipped non-finite steps included)
  params: Any  # train parameters: losses.join_params(model parameters, loss parameters)
  opt_state: Any
  nonfinite_streak: jax.Array  # consecutive non-finite steps (the NaN guard)


def init_train_params(model, config: ml_collections.ConfigDict, rng):
  """The train parameters: the model's and the objective's (see the module docstring)."""
  return losses.join_params(models.init_params(model, config, rng),
                            losses.init_loss_params(config))


def abstract_train_params(model, config):
  """Shapes/dtypes of ``init_train_params`` without allocating them (e.g. for optimizer.build)."""
  return losses.join_params(models.abstract_params(model, config),
                            jax.eval_shape(lambda: losses.init_loss_params(config)))


def _state_from_params(params, tx: optax.GradientTransformation) -> TrainState:
  return TrainState(step=jnp.zeros((), jnp.int32), params=params, opt_state=tx.init(params),
                    nonfinite_streak=jnp.zeros((), jnp.int32))


def init_state(model, config, tx: optax.GradientTransformation, rng) -> TrainState:
  return _state_from_params(init_train_params(model, config, rng), tx)


def _abstract_state_shapes(model, config, tx) -> TrainState:
  """``init_state``'s shapes/dtypes from the (memoised) parameter shapes: only the
  optimizer's init is traced."""
  return jax.eval_shape(lambda p: _state_from_params(p, tx), abstract_train_params(model, config))


def param_shardings(model, config, mesh):
  # The objective's parameters are scalars: replicated.
  logical = losses.join_params(models.logical_axes(model, config),
                               {k: P() for k in losses.init_loss_params(config)})
  return sharding_lib.logical_to_shardings(logical, mesh, config)


def state_shardings(model, config, tx, mesh) -> TrainState:
  """NamedShardings for every leaf of the train state."""
  p_sh = param_shardings(model, config, mesh)
  abstract = _abstract_state_shapes(model, config, tx)
  repl = NamedSharding(mesh, P())
  opt_sh = optax.tree_map_params(
      tx, lambda p, s: p if isinstance(p, optax.MaskedNode) else s, abstract.opt_state, p_sh,
      transform_non_params=lambda _: repl,
      is_leaf=lambda x: isinstance(x, (NamedSharding, optax.MaskedNode)))
  return TrainState(step=repl, params=p_sh, opt_state=opt_sh, nonfinite_streak=repl)


def abstract_state(model, config, tx, mesh) -> TrainState:
  """ShapeDtypeStructs carrying the target shardings (the restore target)."""
  shapes = _abstract_state_shapes(model, config, tx)
  shardings = state_shardings(model, config, tx, mesh)
  return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                      shapes, shardings)


def create_state(model, config, tx, mesh, rng) -> TrainState:
  """A freshly initialised state, created directly with its shardings."""
  shardings = state_shardings(model, config, tx, mesh)
  with sharding_lib.mesh_context(mesh, config):
    return jax.jit(lambda r: init_state(model, config, tx, r), out_shardings=shardings)(rng)


def replace_params(state: TrainState, new_params, shardings: TrainState) -> TrainState:
  """Puts (host) parameters into the state with the state's shardings (e.g. pretrained towers).

  The optimizer state is left as initialised (zero momentum), as for a fresh start.
  """
  params = jax.tree.map(lambda x, sh: jax.device_put(x, sh), new_params, shardings.params)
  return state.replace(params=params)
