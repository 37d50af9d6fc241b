"""The image tower's class-token attention maps (shown in the Colab notebook)."""

import jax
import numpy as np
import pytest

from focusclip_jax import attention_maps
from focusclip_jax import models
from focusclip_jax.models import params_util
from tests.helpers import tiny
from tests.helpers import tiny2


def _images(n=3, size=32, seed=0):
  return np.random.default_rng(seed).uniform(size=(n, size, size, 3)).astype(np.float32)


def test_maps_are_distributions_over_the_patch_grid_scanned_or_not():
  config = tiny2()  # ViT tiny/8 at 32 px: a 4 x 4 patch grid, 2 blocks (rollout != last)
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  images = _images()
  maps = {m: attention_maps.image_attention(model, params, images, m)
          for m in attention_maps.METHODS}
  for m in maps.values():
    assert m.shape == (3, 4, 4) and np.all(m >= 0)
    np.testing.assert_allclose(m.sum(axis=(1, 2)), 1.0, rtol=1e-5)
  assert not np.allclose(maps["last"], maps["rollout"])
  # The same maps from the scanned tower (its blocks' probabilities stacked by nn.scan).
  scanned_config = tiny2(**{"model.scan_layers": True})
  scanned = models.build_model(scanned_config)
  for m, expected in maps.items():
    got = attention_maps.image_attention(scanned, params_util.stack_layers(params), images, m)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)


def test_a_convnet_or_an_unknown_method_is_refused():
  config = tiny(**{"model.image.variant": "convnet-tiny"})
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  with pytest.raises(ValueError, match="need a ViT image tower"):
    attention_maps.image_attention(model, params, _images(1), "last")
  with pytest.raises(ValueError, match="choose one of"):
    attention_maps.image_attention(model, params, _images(1), "mean")
