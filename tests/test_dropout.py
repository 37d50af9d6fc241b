"""layers.Dropout: 32 bits = flax's nn.Dropout; 16 bits = half the random words, same law."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from focusclip_jax.models import layers


def _apply(x, rate, bits, key=0, deterministic=False, impl=None):
  return layers.Dropout(rate, bits).apply({}, x, deterministic,
                                          rngs={"dropout": jax.random.key(key, impl=impl)})


def test_32_bits_is_flax_dropout():
  x = jax.random.normal(jax.random.key(3), (4, 33, 20))
  ours = _apply(x, 0.3, 32, key=7)
  flax_out = nn.Dropout(0.3).apply({}, x, False, rngs={"dropout": jax.random.key(7)})
  np.testing.assert_array_equal(ours, flax_out)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_16_bits_keep_rate_scale_and_independence(rate):
  x = jnp.ones((256, 4096), jnp.float32)  # 1M elements
  out = np.asarray(jax.jit(lambda x: _apply(x, rate, 16, key=11))(x))
  threshold = round((1 - rate) * 65536)
  keep_prob = threshold / 65536
  kept = out != 0
  # Kept values are exactly x / keep_prob, dropped ones exactly 0.
  np.testing.assert_array_equal(np.unique(out), np.float32([0.0, 1.0 / np.float32(keep_prob)]))
  # Keep frequency: binomial, std sqrt(p(1-p)/n) <= 5e-4 here; 6 sigma.
  assert abs(kept.mean() - keep_prob) < 3e-3
  # Unbiased: E[out] = x.
  assert abs(out.mean() - 1.0) < 4e-3
  # The two halves of a random word decide neighbouring elements: they must be uncorrelated.
  even, odd = kept[:, 0::2].ravel().astype(float), kept[:, 1::2].ravel().astype(float)
  assert abs(np.corrcoef(even, odd)[0, 1]) < 0.01
  # Rows (different words) uncorrelated too, and different keys give different masks.
  assert abs(np.corrcoef(kept[0::2].ravel(), kept[1::2].ravel())[0, 1]) < 0.01
  other = np.asarray(_apply(x, rate, 16, key=12)) != 0
  assert (kept != other).mean() > 0.5 * 2 * keep_prob * (1 - keep_prob)


def test_16_bits_odd_last_axis_and_identity_cases():
  x = jax.random.normal(jax.random.key(0), (3, 197))
  out = np.asarray(_apply(x, 0.5, 16))
  assert out.shape == (3, 197)
  kept = out != 0
  np.testing.assert_allclose(out[kept], np.asarray(x)[kept] * 2, rtol=1e-6)
  assert 0.3 < kept.mean() < 0.7
  np.testing.assert_array_equal(_apply(x, 0.5, 16, deterministic=True), x)
  np.testing.assert_array_equal(_apply(x, 0.0, 16), x)
  np.testing.assert_array_equal(_apply(x, 1e-7, 16), x)  # rounds to keep-everything
  np.testing.assert_array_equal(_apply(x, 1.0, 16), np.zeros_like(x))
  with pytest.raises(ValueError, match="choose one of"):
    _apply(x, 0.5, 8)


@pytest.mark.parametrize("impl", ["threefry2x32", "rbg"])  # config.train.dropout_rng
@pytest.mark.parametrize("bits", [16, 32])
def test_same_masks_on_any_mesh(bits, impl):
  """The masks do not depend on how the activations are sharded: an element's mask is a
  function of the key and its position in the global array (for threefry, because it is
  partitionable; rbg is computed whole)."""
  mesh = jax.make_mesh((8,), ("data",))
  x = jax.random.normal(jax.random.key(1), (16, 12, 64))
  f = jax.jit(lambda x: _apply(x, 0.1, bits, key=5, impl=impl))
  single = np.asarray(f(x))
  sharded_x = jax.device_put(x, jax.NamedSharding(mesh, jax.P("data")))
  np.testing.assert_array_equal(np.asarray(f(sharded_x)), single)
  sharded_x = jax.device_put(x, jax.NamedSharding(mesh, jax.P(None, None, "data")))
  np.testing.assert_array_equal(np.asarray(f(sharded_x)), single)
