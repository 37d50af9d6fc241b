"""Cached outputs of a locked text tower (``config.train.cache_text_features``).

When every text-tower parameter is frozen (``config.optim.frozen``) and the tower has no
dropout, a text's pooled output is the same at every step, so running the tower in every
step recomputes the same numbers. ``TextFeatureCache`` computes it once per distinct text
(its token ids and mask) with a jitted forward on the host's devices and hands the
train step ``text_features`` [B, width] in place of ``text_ids``/``text_mask``
(focusclip_jax/batch_spec.py); the step then runs the image tower, the text projection and
the loss. The gradients are those of the uncached step: a frozen tower gets none, and the
projection after it is trained as before.

What it saves: the text tower's forward, e.g. 33 of the demo step's 50 GFLOP (BENCHMARKS.md
"Demo step: cached text features"). What it costs: one forward per distinct text (the
first time a batch holds it) and ``width * 4`` bytes of host memory per text.

A text's features are computed in the batch it first appears in; XLA:CPU's kernels give a
row the same result whatever the other rows are (tested), so a resumed run reads the same
features as an uninterrupted one. Single process only: with several processes each would
cache its own rows and miss at different steps, and the tower's forward is a collective
program all of them must run together.
"""

from __future__ import annotations

import jax
import ml_collections
import numpy as np

from focusclip_jax import batch_spec
from focusclip_jax import config_lib
from focusclip_jax import losses
from focusclip_jax import models
from focusclip_jax import optimizer
from focusclip_jax import sharding as sharding_lib
from focusclip_jax import train_state


def check_locked(model, config: ml_collections.ConfigDict) -> None:
  """Raises ConfigError unless every text-tower parameter is frozen and the run is a single
  process (config_lib.validate refuses text dropout with the cache)."""
  frozen = optimizer.frozen_mask(train_state.abstract_train_params(model, config), config)
  frozen_model, _ = losses.split_params(frozen)
  paths = optimizer.param_paths(frozen_model["text_tower"])
  trainable = [f"text_tower/{p}" for p, f in zip(jax.tree.leaves(paths),
                                                  jax.tree.leaves(frozen_model["text_tower"]))
               if not f]
  if trainable:
    raise config_lib.ConfigError(
        f"config.train.cache_text_features needs a locked text tower, but {len(trainable)} "
        f"text-tower parameters are trainable (e.g. {trainable[0]}); add 'text_tower/.*' to "
        "config.optim.frozen or set config.train.cache_text_features = False")
  if jax.process_count() > 1:
    raise config_lib.ConfigError(
        "config.train.cache_text_features works in a single process (this run has "
        f"{jax.process_count()}); set it to False")


class TextFeatureCache:
  """{distinct text: the text tower's pooled output}, filled on first sight."""

  def __init__(self, model, config: ml_collections.ConfigDict, mesh):
    check_locked(model, config)
    self.mesh, self.config = mesh, config
    self.batch_sharding = sharding_lib.batch_sharding(mesh, config)
    self.features: dict[bytes, np.ndarray] = {}
    self.computed_batches = 0  # forwards run (batches that held at least one new text)

    # The tower attends over all positions here, also with config.model.text.attention_buckets
    # (those restrict the keys to a batch's real tokens, which gives the same features up to
    # float summation order, text_buckets.py): each text's features are computed once, so
    # one compiled program serves every batch.
    def encode(params, ids, mask):
      model_params, _ = losses.split_params(params)
      with models.matmul_precision(config):
        return model.apply({"params": model_params}, ids, mask, method=model.text_features)

    self._encode = jax.jit(encode, out_shardings=sharding_lib.replicated(mesh))

  @staticmethod
  def key(ids: np.ndarray, mask: np.ndarray) -> bytes:
    """A text's identity: all of its token ids and its mask (the tower's output is a function
    of both; with 'mean_all' pooling the padded positions count too)."""
    return ids.astype(np.int32).tobytes() + mask.astype(np.int32).tobytes()

  def __len__(self) -> int:
    return len(self.features)

  def __call__(self, params, inputs: dict) -> dict:
    """``inputs`` (this process's model inputs, with tokens) -> the same dict with
    ``text_features`` in place of ``text_ids``/``text_mask``. ``params``: the train state's
    (only the frozen text tower is read)."""
    ids, mask = np.asarray(inputs["text_ids"]), np.asarray(inputs["text_mask"])
    keys = [self.key(i, m) for i, m in zip(ids, mask)]
    if any(k not in self.features for k in keys):
      with sharding_lib.mesh_context(self.mesh, self.config):
        batch = sharding_lib.make_global_batch({"ids": ids, "mask": mask}, self.batch_sharding)
        out = np.asarray(jax.device_get(self._encode(params, batch["ids"], batch["mask"])))
      self.computed_batches += 1
      for k, row in zip(keys, out):
        self.features.setdefault(k, np.array(row, np.float32))
    out = {k: v for k, v in inputs.items() if k not in batch_spec.TOKEN_KEYS}
    out[batch_spec.FEATURES_KEY] = np.stack([self.features[k] for k in keys])
    return out
