"""The training batch, written once: its keys, per-example shapes and dtypes, and which keys
a model reads.

A decoded example (what a pipeline source returns, input_pipeline/pipeline.py) and a batch
of them (with a leading batch axis B):

  image      float32 [S, S, 3] in [0, 1]          S = config.model.image.image_size
  heatmap    float32 [S, S, 1] in [0, 1]          read only by a model with a focus view
  text_ids   int32   [L]                          L = config.model.text.max_length
  text_mask  int32   [L]
  id         int64   []  example id               host-only bookkeeping: never sent to the
  index      int64   []  record index in its split   device (the pipeline adds 'index' and,
  _mask      bool    []  real example (eval only)    for evaluation, '_mask')

With a locked text tower whose outputs are cached (``config.train.cache_text_features``,
focusclip_jax/text_cache.py) the train step reads, instead of the two token arrays,

  text_features  float32 [W]                      the text tower's pooled output, W its width

The pipeline checks what a source decodes against this, the model's example batch
(``models.example_batch``), the abstract batch of the AOT compilation
(``train_step.abstract_batch``) and the tests build their batches from it, and
``model_keys`` is the one place that decides that the CLIP baseline (no focus view) gets no
heatmap.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

# The arrays the train step reads, in this order.
MODEL_KEYS = ("image", "heatmap", "text_ids", "text_mask")
# Of those, the ones only a model with a focus view reads.
FOCUS_KEYS = ("heatmap",)
# The token arrays, and what replaces them when the text tower's outputs are cached.
TOKEN_KEYS = ("text_ids", "text_mask")
FEATURES_KEY = "text_features"
# Per-example bookkeeping that stays on the host.
HOST_KEYS = {"id": np.int64, "index": np.int64, "_mask": np.bool_}


def model_keys(focus: bool, text_features: bool = False) -> tuple[str, ...]:
  """The keys a model with (``focus=True``) or without a focus view reads; with
  ``text_features``, cached text-tower outputs in place of the tokens."""
  keys = MODEL_KEYS if focus else tuple(k for k in MODEL_KEYS if k not in FOCUS_KEYS)
  if text_features:
    keys = tuple(k for k in keys if k not in TOKEN_KEYS) + (FEATURES_KEY,)
  return keys


def example_shapes(image_size: int, max_length: int) -> dict[str, tuple[tuple[int, ...], type]]:
  """{key: (per-example shape, numpy dtype)} of the model keys."""
  s, length = image_size, max_length
  return {
      "image": ((s, s, 3), np.float32),
      "heatmap": ((s, s, 1), np.float32),
      "text_ids": ((length,), np.int32),
      "text_mask": ((length,), np.int32),
  }


def batch_shapes(config, batch_size: int, focus: bool | None = None,
                 text_width: int | None = None) -> dict[str, tuple[tuple[int, ...], type]]:
  """{key: (batch shape, dtype)} of the model inputs for ``config`` (``focus`` defaults to
  ``config.model.focus.enabled``); with ``text_width``, text features of that width in place
  of the tokens."""
  focus = config.model.focus.enabled if focus is None else focus
  shapes = example_shapes(config.model.image.image_size, config.model.text.max_length)
  if text_width is not None:
    shapes[FEATURES_KEY] = ((text_width,), np.float32)
  keys = model_keys(focus, text_features=text_width is not None)
  return {k: ((batch_size,) + shapes[k][0], shapes[k][1]) for k in keys}


def model_inputs(batch: Mapping[str, np.ndarray], focus: bool) -> dict[str, np.ndarray]:
  """The arrays of ``batch`` that a model (with or without a focus view) reads (the text
  features instead of the tokens where the batch carries them)."""
  return {k: batch[k] for k in model_keys(focus, text_features=FEATURES_KEY in batch)}


def from_uint8(examples: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Model inputs from uint8 images/heatmaps in [0, 255] (``input_pipeline.synthetic``'s
  arrays; what its tf decoder does, in numpy)."""
  shapes = example_shapes(1, 1)
  out = {}
  for k in MODEL_KEYS:
    x = np.asarray(examples[k])
    out[k] = (x.astype(np.float32) / 255.0 if x.dtype == np.uint8
              else x.astype(shapes[k][1]))
  return out


def check_example(element_spec: Mapping, where: str, image_size: int | None = None,
                  max_length: int | None = None) -> None:
  """Raises ValueError unless ``element_spec`` (``{key: tf.TensorSpec}`` of one decoded
  example) has every model key with this module's dtype and rank (and shape, where the sizes
  are given)."""
  shapes = example_shapes(image_size or -1, max_length or -1)
  problems = []
  for k, (shape, dtype) in shapes.items():
    if k not in element_spec:
      problems.append(f"no {k!r}")
      continue
    got = element_spec[k]
    if np.dtype(got.dtype.as_numpy_dtype) != np.dtype(dtype):
      problems.append(f"{k!r} is {got.dtype.name}, not {np.dtype(dtype).name}")
    dims = tuple(got.shape.as_list()) if got.shape.rank is not None else None
    if dims is None or len(dims) != len(shape) or any(
        e > 0 and d is not None and d != e for d, e in zip(dims, shape)):
      problems.append(f"{k!r} has shape {dims}, expected {shape}")
  if problems:
    raise ValueError(f"{where} decodes examples that do not match focusclip_jax/batch_spec.py: "
                     + "; ".join(problems))
