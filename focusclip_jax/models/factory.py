"""Builds the FocusCLIP module, its towers and example inputs from ``config`` (config_lib)."""

from __future__ import annotations

import contextlib

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from focusclip_jax import batch_spec
from focusclip_jax.models import bert
from focusclip_jax.models import convnet
from focusclip_jax.models import vit
from focusclip_jax.models.focusclip import FocusCLIP

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16, "float16": jnp.float16}
# config.model.matmul_precision -> jax.default_matmul_precision (None: the platform's default).
MATMUL_PRECISIONS = {"default": None, "high": "high", "highest": "highest"}
PARAM_DTYPES = ("float32", "bfloat16")  # config.model.param_dtype: float16 would underflow updates


def _dtypes(model_cfg):
  return dict(dtype=DTYPES[model_cfg.dtype], param_dtype=DTYPES[model_cfg.param_dtype])


def _shared_fields(model_cfg, tower_cfg) -> dict:
  """The transformer-tower fields set the same way for both towers."""
  return dict(dropout=tower_cfg.dropout, attention_dropout=tower_cfg.attention_dropout,
              dropout_bits=model_cfg.dropout_bits, scan=model_cfg.scan_layers,
              remat_policy=model_cfg.remat_policy, **_dtypes(model_cfg))


def build_image_tower(config: ml_collections.ConfigDict) -> nn.Module:
  """The ViT named by ``config.model.image.variant`` (or a small ConvNet: 'convnet-<size>')."""
  m = config.model
  if convnet.is_convnet(m.image.variant):
    return convnet.ConvNet(**convnet.parse_variant(m.image.variant), **_dtypes(m))
  spec = vit.parse_variant(m.image.variant)
  return vit.ViT(
      **spec,
      posemb_grid=m.image.image_size // spec["patch_size"],
      pool=m.image.pool,
      **_shared_fields(m, m.image),
  )


def build_text_tower(config: ml_collections.ConfigDict) -> bert.BERT:
  m = config.model
  return bert.BERT(
      **bert.parse_variant(m.text.variant),
      vocab_size=m.text.vocab_size,
      max_positions=m.text.max_positions,
      pooling=m.text.pooling,
      attention_kernel=m.text.attention_kernel,
      **_shared_fields(m, m.text),
  )


def build_model(config: ml_collections.ConfigDict) -> FocusCLIP:
  """The FocusCLIP module for ``config`` (the CLIP baseline when focus is disabled)."""
  m = config.model
  separate = m.focus.enabled and not m.focus.shared_encoder
  return FocusCLIP(
      image_tower=build_image_tower(config),
      text_tower=build_text_tower(config),
      focus_tower=build_image_tower(config) if separate else None,
      embed_dim=m.embed_dim,
      focus=m.focus.enabled,
      shared_encoder=m.focus.shared_encoder,
      fused_pass=m.focus.fused_pass,
      alpha_param=m.focus.alpha_param,
      alpha_init=m.focus.alpha_init,
      heatmap_source=m.focus.heatmap_source,
      input_norm=m.image.input_norm,
      **_dtypes(m),
  )


def example_batch(config: ml_collections.ConfigDict, batch_size: int = 1, abstract: bool = False,
                  focus: bool | None = None, text_features: bool | None = None):
  """A batch of the model inputs (focusclip_jax/batch_spec.py; the heatmap only with a focus
  view, ``focus`` defaulting to the config's; text features instead of tokens with
  ``text_features``, defaulting to ``config.train.cache_text_features``): zeros, an all-ones
  text mask; or ``jax.ShapeDtypeStruct``s with ``abstract``."""
  if text_features is None:
    text_features = config.train.cache_text_features
  width = bert.parse_variant(config.model.text.variant)["width"] if text_features else None
  shapes = batch_spec.batch_shapes(config, batch_size, focus=focus, text_width=width)
  if abstract:
    return {k: jax.ShapeDtypeStruct(*v) for k, v in shapes.items()}
  return {k: jnp.zeros(*v) if k != "text_mask" else jnp.ones(*v) for k, v in shapes.items()}


def _forward_args(model: FocusCLIP, batch):
  """Positional and keyword inputs of ``FocusCLIP.__call__`` from a batch dict
  (batch_spec.model_keys decides whether the heatmap, and the tokens or the cached text
  features, are read)."""
  inputs = batch_spec.model_inputs(batch, focus=model.focus)
  args = (inputs["image"], inputs.get("text_ids"), inputs.get("text_mask"),
          inputs.get("heatmap"))
  return args, {"text_features": inputs.get(batch_spec.FEATURES_KEY)}


def apply_batch(model: FocusCLIP, variables, batch, train: bool = False, rngs=None,
                rows=None, num_rows=None):
  """The training forward on a batch dict -> {'image', 'text'[, 'focus']} embeddings
  (``rows``/``num_rows``: a micro-batch of a larger batch, see ``FocusCLIP.__call__``)."""
  args, kwargs = _forward_args(model, batch)
  return model.apply(variables, *args, train=train, rngs=rngs, rows=rows, num_rows=num_rows,
                     **kwargs)


def init_boxed(model: FocusCLIP, config: ml_collections.ConfigDict, rng):
  """Variables with their ``nn.LogicallyPartitioned`` boxes (for sharding specs)."""
  batch = example_batch(config, batch_size=1, focus=model.focus, text_features=False)
  args, _ = _forward_args(model, batch)
  return model.init({"params": rng}, *args)


def init_params(model: FocusCLIP, config: ml_collections.ConfigDict, rng):
  """The model's parameters, plain (unboxed).

  What exports and ``load_for_inference`` hold; the train state's parameters add the
  objective's (``train_state.init_train_params``).
  """
  return nn.meta.unbox(init_boxed(model, config, rng))["params"]


# jax.eval_shape(init_boxed) per (model, config JSON). Building a run asks for the parameter
# shapes many times (optimizer masks, state shardings, the restore target, the AOT argument
# specs, each evaluator), and each trace of the model's init costs seconds for the paper towers.
# The model is a hashable dataclass; the config's JSON covers every field the init reads.
_ABSTRACT_BOXED: dict = {}
_ABSTRACT_BOXED_MAX = 16


def abstract_boxed(model: FocusCLIP, config: ml_collections.ConfigDict):
  """``init_boxed``'s output as ``jax.ShapeDtypeStruct``s in their partitioning boxes."""
  key = (model, config.to_json_best_effort(sort_keys=True))
  if key not in _ABSTRACT_BOXED:
    if len(_ABSTRACT_BOXED) >= _ABSTRACT_BOXED_MAX:
      _ABSTRACT_BOXED.clear()
    _ABSTRACT_BOXED[key] = jax.eval_shape(lambda: init_boxed(model, config, jax.random.key(0)))
  return _ABSTRACT_BOXED[key]


def abstract_params(model: FocusCLIP, config: ml_collections.ConfigDict):
  """Shapes/dtypes of ``init_params`` without allocating them."""
  # The boxes' values, not nn.meta.unbox: under a mesh that would apply a sharding constraint
  # to each (abstract) value.
  boxed = abstract_boxed(model, config)["params"]
  return jax.tree.map(lambda x: x.value if isinstance(x, nn.meta.AxisMetadata) else x, boxed,
                      is_leaf=lambda x: isinstance(x, nn.meta.AxisMetadata))


def logical_axes(model: FocusCLIP, config: ml_collections.ConfigDict):
  """Pytree of ``PartitionSpec``s of logical axis names, matching ``init_params``."""
  return nn.get_partition_spec(abstract_boxed(model, config))["params"]


def matmul_precision(config: ml_collections.ConfigDict):
  """Context for tracing the towers and the loss with ``config.model.matmul_precision``.

  'default' leaves every dot at the platform's default (float32 inputs: one bfloat16 pass on
  TPU, TF32 on recent NVIDIA GPUs where XLA enables it, exact float32 on CPU); 'high' asks
  for ~bfloat16x3 / TF32 passes, 'highest' for full float32 (slower on TPU and GPU).
  """
  name = MATMUL_PRECISIONS[config.model.matmul_precision]
  return contextlib.nullcontext() if name is None else jax.default_matmul_precision(name)
