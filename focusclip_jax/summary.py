"""``--mode=summary``: parameter overview per module and forward FLOPs from XLA's cost analysis.

Nothing is allocated: parameters are abstract (``jax.eval_shape``) and the forward passes
are only lowered and compiled, so the paper-size model summarises on a laptop CPU.
"""

from __future__ import annotations

import copy

import jax
import ml_collections
from clu import parameter_overview

from focusclip_jax import config_lib
from focusclip_jax import models
from focusclip_jax.models import params_util


def compiled_flops(fn, *args) -> float:
  """FLOPs of ``jax.jit(fn)(*args)`` from XLA's cost analysis of the compiled program."""
  cost = jax.jit(fn).lower(*args).compile().cost_analysis()
  if isinstance(cost, (list, tuple)):  # older jax returned one dict per device
    cost = cost[0]
  return float(cost.get("flops", float("nan")))


def module_param_counts(params) -> dict[str, int]:
  return {k: params_util.count_params(v) for k, v in params.items()}


def forward_flops(config: ml_collections.ConfigDict, params=None) -> dict[str, float]:
  """Per-example forward FLOPs: encode_image, encode_text, and the whole training forward."""
  model = models.build_model(config)
  if params is None:
    params = models.abstract_params(model, config)
  batch = models.example_batch(config, batch_size=1, abstract=True, text_features=False)
  variables = {"params": params}
  out = {
      "encode_image": compiled_flops(
          lambda v, x: model.apply(v, x, method=model.encode_image), variables, batch["image"]),
      "encode_text": compiled_flops(
          lambda v, i, m: model.apply(v, i, m, method=model.encode_text),
          variables, batch["text_ids"], batch["text_mask"]),
      "train_forward": compiled_flops(
          lambda v, b: models.apply_batch(model, v, b), variables, batch),
  }
  return out


def summarize(config: ml_collections.ConfigDict, with_flops: bool = True) -> str:
  """The text that ``main.py --mode=summary`` prints."""
  config_lib.validate(config)
  model = models.build_model(config)
  params = models.abstract_params(model, config)
  lines = [
      f"FocusCLIP ({'focus branch on' if config.model.focus.enabled else 'CLIP baseline'}): "
      f"image {config.model.image.variant} @ {config.model.image.image_size}px, "
      f"text {config.model.text.variant} @ {config.model.text.max_length} tokens, "
      f"embed_dim {config.model.embed_dim}, dtype {config.model.dtype}",
      "",
      "Parameters per module:",
  ]
  counts = module_param_counts(params)
  for name, n in counts.items():
    lines.append(f"  {name:<14s} {n:>13,d}  ({n / 1e6:8.2f} M)")
  total = sum(counts.values())
  lines.append(f"  {'total':<14s} {total:>13,d}  ({total / 1e6:8.2f} M)")
  # A compact clu table: blocks stacked as in the scanned layout (leading 'layers' axis).
  compact_cfg = copy.deepcopy(config)
  compact_cfg.model.scan_layers = True
  compact = models.abstract_params(models.build_model(compact_cfg), compact_cfg)
  lines += ["", "Parameter overview (encoder blocks stacked on the leading axis):",
            parameter_overview.get_parameter_overview(compact, include_stats=False)]
  if with_flops:
    flops = forward_flops(config, params)
    lines += ["", "Forward FLOPs per example (XLA cost analysis):"]
    for name, f in flops.items():
      lines.append(f"  {name:<14s} {f / 1e9:10.2f} GFLOP")
  return "\n".join(lines)
