"""The heatmap control (model.focus.heatmap_source='other_example'): example i is highlighted
with example i+1's heatmap. On rendered scenes that heatmap covers the example's own person no
more than a random other example's does (chance), and far less than its own heatmap."""

import jax
import jax.numpy as jnp
import numpy as np

from focusclip_jax import batch_spec
from focusclip_jax import models
from focusclip_jax.models import focusclip
from focusclip_tools.demo_data import activities
from focusclip_tools.demo_data import render
from input_pipeline import heatmaps
from input_pipeline import synthetic
from tests.helpers import tiny


def test_control_heatmaps_are_the_next_examples():
  h = np.random.default_rng(0).random((5, 4, 4, 1)).astype(np.float32)
  out = np.asarray(focusclip.control_heatmaps(jnp.asarray(h), "other_example"))
  for i in range(5):
    np.testing.assert_array_equal(out[i], h[(i + 1) % 5])
  assert focusclip.control_heatmaps(h, "subject") is h


def test_model_highlights_with_the_next_examples_heatmap():
  config = tiny(**{"model.text.dropout": 0.0, "model.text.attention_dropout": 0.0})
  control = tiny(**{"model.text.dropout": 0.0, "model.text.attention_dropout": 0.0,
                    "model.focus.heatmap_source": "other_example"})
  model, cmodel = models.build_model(config), models.build_model(control)
  params = models.init_params(model, config, jax.random.key(0))
  b = batch_spec.from_uint8(synthetic.make_examples(8, 32, 16, seed=1))
  rolled = dict(b, heatmap=np.roll(b["heatmap"], -1, axis=0))
  fwd = jax.jit(lambda m, batch: models.apply_batch(m, {"params": params}, batch),
                static_argnums=0)
  got, want, own = fwd(cmodel, b), fwd(model, rolled), fwd(model, b)
  np.testing.assert_allclose(got["focus"], want["focus"], rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(got["image"], own["image"])  # only the highlighted view changes
  assert not np.allclose(got["focus"], own["focus"], atol=1e-4)


def _rendered_heatmaps(n=60, size=(64, 48)):
  rng = np.random.default_rng(3)
  maps = []
  for i in range(n):
    act = activities.ACTIVITIES[i % len(activities.ACTIVITIES)]
    _, people = render.render_scene(rng, act, [30], size)
    kpts = np.stack([p.kpts for p in people]).astype(np.float32)
    vis = np.stack([p.vis for p in people])
    maps.append(heatmaps.heatmap_numpy(kpts, vis, size[1], size[0]))
  return np.stack(maps)[..., None]


def test_control_heatmaps_do_not_follow_the_subject_more_than_chance():
  h = _rendered_heatmaps()
  n = len(h)
  flat = h.reshape(n, -1)
  # Coverage of example j's person by map m: the share of j's own heatmap mass under min(m, h_j).
  cover = np.minimum(flat[:, None], flat[None]).sum(-1) / flat.sum(-1)[None]  # [map, person]
  control = np.asarray(focusclip.control_heatmaps(jnp.asarray(h), "other_example")).reshape(n, -1)
  control_cover = np.minimum(control, flat).sum(-1) / flat.sum(-1)
  chance = cover[~np.eye(n, dtype=bool)]  # every other example's heatmap
  se = chance.std() / np.sqrt(n)
  assert control_cover.mean() <= chance.mean() + 3 * se
  assert np.allclose(np.diag(cover), 1.0)  # a heatmap covers its own person fully
  assert control_cover.mean() < 0.5
