"""The Flax modules: shapes, options, the highlight branch, scan/remat/dtype equivalences."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from focusclip_jax import batch_spec
from focusclip_jax import models
from focusclip_jax import sharding
from focusclip_jax.models import bert as bert_lib
from focusclip_jax.models import convnet
from focusclip_jax.models import params_util
from focusclip_jax.models import vit as vit_lib
from tests.helpers import tiny
from tests.helpers import tiny2


def _batch(config, b=3, seed=0):
  rng = np.random.default_rng(seed)
  shapes = batch_spec.batch_shapes(config, b, focus=True)
  L = shapes["text_ids"][0][1]
  lengths = rng.integers(3, L, size=b)
  mask = (np.arange(L)[None] < lengths[:, None]).astype(np.int32)
  values = {"image": rng.uniform(size=shapes["image"][0]),
            "heatmap": rng.uniform(size=shapes["heatmap"][0]),
            "text_ids": rng.integers(1, 1000, size=shapes["text_ids"][0]) * mask,
            "text_mask": mask}
  return {k: jnp.asarray(values[k], dtype) for k, (_, dtype) in shapes.items()}


def _init(config, seed=0):
  model = models.build_model(config)
  return model, models.init_params(model, config, jax.random.key(seed))


def test_forward_shapes_and_dtypes():
  config = tiny()
  model, params = _init(config)
  out = models.apply_batch(model, {"params": params}, _batch(config))
  assert set(out) == {"image", "text", "focus"}
  for v in out.values():
    assert v.shape == (3, config.model.embed_dim) and v.dtype == jnp.float32
    assert np.all(np.isfinite(v))
  assert params["alpha"].shape == () and float(params["alpha"]) == 0.5


def test_clip_baseline_has_no_alpha_and_no_focus():
  config = tiny(**{"model.focus.enabled": False})
  model, params = _init(config)
  assert "alpha" not in params
  out = models.apply_batch(model, {"params": params}, _batch(config))
  assert set(out) == {"image", "text"}


def test_highlight_is_x_times_alpha_plus_one_minus_alpha_m():
  config = tiny()
  model, params = _init(config)
  params = dict(params, alpha=jnp.float32(0.3))
  x = jnp.full((1, 2, 2, 3), 0.8)
  m = jnp.array([[[[1.0], [0.0]], [[0.5], [0.25]]]])
  got = model.apply({"params": params}, x, m, method=model.highlight)
  # hand-computed: 0.8 * (0.3 + 0.7 * m)
  want = 0.8 * np.array([1.0, 0.3, 0.65, 0.475]).reshape(1, 2, 2, 1) * np.ones((1, 1, 1, 3))
  np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("param,raw,expected", [
    ("unconstrained", 1.7, 1.7),
    ("clipped", 1.7, 1.0),
    ("clipped", -0.2, 0.0),
    ("sigmoid", 0.0, 0.5),
    ("sigmoid", np.log(3.0), 0.75),
])
def test_alpha_parameterisations(param, raw, expected):
  config = tiny(**{"model.focus.alpha_param": param})
  model, params = _init(config)
  if param == "sigmoid":
    assert abs(float(params["alpha"])) < 1e-7  # logit(0.5): the effective alpha starts at 0.5
  params = dict(params, alpha=jnp.float32(raw))
  got = model.apply({"params": params}, method=model.effective_alpha)
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_shared_2b_pass_equals_separate_calls():
  config = tiny()
  model, params = _init(config)
  b = _batch(config)
  v = {"params": params}
  out = models.apply_batch(model, v, b)
  img = model.apply(v, b["image"], method=model.encode_image)
  foc = model.apply(v, b["image"], b["heatmap"], method=model.encode_focus)
  txt = model.apply(v, b["text_ids"], b["text_mask"], method=model.encode_text)
  np.testing.assert_allclose(out["image"], img, atol=1e-5)
  np.testing.assert_allclose(out["focus"], foc, atol=1e-5)
  np.testing.assert_allclose(out["text"], txt, atol=1e-6)


def test_separate_focus_encoder():
  config = tiny(**{"model.focus.shared_encoder": False})
  model, params = _init(config)
  assert {"focus_tower", "focus_proj"} <= set(params)
  assert params_util.count_params(params["focus_tower"]) == params_util.count_params(
      params["image_tower"])
  b = _batch(config)
  out = models.apply_batch(model, {"params": params}, b)
  # The focus view uses the focus tower: with the image tower's weights it equals encode_focus
  # of a shared model.
  shared = dict(params, focus_tower=params["image_tower"], focus_proj=params["image_proj"])
  out2 = models.apply_batch(model, {"params": shared}, b)
  shared_model = models.build_model(tiny())
  foc = shared_model.apply({"params": {k: v for k, v in shared.items()
                                       if k not in ("focus_tower", "focus_proj")}},
                           b["image"], b["heatmap"], method=shared_model.encode_focus)
  np.testing.assert_allclose(out2["focus"], foc, atol=1e-5)
  assert not np.allclose(out["focus"], out2["focus"])


def test_input_norm_minus_one_one():
  config = tiny(**{"model.image.input_norm": "minus_one_one"})
  model, params = _init(config)
  plain = models.build_model(tiny())
  x = _batch(config)["image"]
  a = model.apply({"params": params}, x, method=model.encode_image)
  b = plain.apply({"params": params}, (x - 0.5) / 0.5, method=plain.encode_image)
  np.testing.assert_allclose(a, b, atol=1e-6)


def test_text_pooling_options():
  rng = np.random.default_rng(0)
  h = rng.normal(size=(2, 5, 4)).astype(np.float32)
  mask = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]])
  np.testing.assert_allclose(bert_lib.pool_tokens(h, mask, "mean_all"), h.mean(1), rtol=1e-6)
  np.testing.assert_allclose(
      bert_lib.pool_tokens(h, mask, "mean_masked"),
      np.stack([h[0, :2].mean(0), h[1, :4].mean(0)]), rtol=1e-6)
  np.testing.assert_allclose(bert_lib.pool_tokens(h, mask, "cls"), h[:, 0])


def test_mean_all_depends_on_padding_length_mean_masked_does_not():
  """The reference pools over pads, so the same text padded longer embeds differently."""
  out = {}
  for pooling in ("mean_all", "mean_masked"):
    for L in (8, 16):
      config = tiny(**{"model.text.pooling": pooling, "model.text.max_length": L})
      model, params = _init(config)
      ids = np.zeros((1, L), np.int32)
      ids[0, :4] = [101, 1037, 6302, 102]
      mask = (ids > 0).astype(np.int32)
      out[pooling, L] = model.apply({"params": params}, ids, mask, method=model.encode_text)
  assert not np.allclose(out["mean_all", 8], out["mean_all", 16], atol=1e-4)
  np.testing.assert_allclose(out["mean_masked", 8], out["mean_masked", 16], atol=1e-5)


def test_gap_pooling():
  config = tiny(**{"model.image.pool": "gap"})
  tower = models.build_image_tower(config)
  x = jnp.ones((2, 32, 32, 3))
  v = tower.init(jax.random.key(0), x)
  pooled, tokens = tower.apply(v, x)
  np.testing.assert_allclose(pooled, tokens[:, 1:].mean(1), rtol=1e-6)


def test_scan_equals_unscanned_and_remat_equals_plain():
  base = tiny2()  # two blocks per tower: the stacking order matters
  model, params = _init(base)
  b = _batch(base)

  def forward_and_grad(m, p):  # jitted: one compile instead of op-by-op dispatch
    return jax.jit(lambda p_: (
        models.apply_batch(m, {"params": p_}, b),
        jax.grad(lambda q: models.apply_batch(m, {"params": q}, b)["focus"].sum())(p_)))(p)

  ref, ref_grad = forward_and_grad(model, params)
  for scan, remat in [(True, "none"), (False, "full"), (True, "dots")]:
    config = tiny2(**{"model.scan_layers": scan, "model.remat_policy": remat})
    m = models.build_model(config)
    p = params_util.stack_layers(params) if scan else params
    expected = jax.tree.map(lambda x: x.shape, models.abstract_params(m, config))
    assert jax.tree.map(lambda x: x.shape, p) == expected
    out, g = forward_and_grad(m, p)
    for k in ref:
      np.testing.assert_allclose(out[k], ref[k], atol=1e-5)
    g = params_util.unstack_layers(g) if scan else g
    jax.tree.map(lambda a, c: np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-5), g, ref_grad)


def test_bf16_compute_fp32_params():
  config = tiny(**{"model.dtype": "bfloat16"})
  model, params = _init(config)
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(params))
  fp32_model = models.build_model(tiny())
  b = _batch(config)
  out = models.apply_batch(model, {"params": params}, b)
  ref = models.apply_batch(fp32_model, {"params": params}, b)
  for k in ref:
    assert out[k].dtype == jnp.float32  # projections are returned in fp32 for the loss
    cos = np.sum(np.asarray(out[k]) * ref[k], -1) / (
        np.linalg.norm(out[k], axis=-1) * np.linalg.norm(ref[k], axis=-1))
    assert np.all(cos > 0.99), (k, cos)


def test_dropout_only_in_training():
  config = tiny(**{"model.text.dropout": 0.5})
  model, params = _init(config)
  b = _batch(config)
  v = {"params": params}
  e1 = models.apply_batch(model, v, b)["text"]
  e2 = models.apply_batch(model, v, b)["text"]
  np.testing.assert_array_equal(e1, e2)
  t1 = models.apply_batch(model, v, b, train=True, rngs={"dropout": jax.random.key(1)})["text"]
  t2 = models.apply_batch(model, v, b, train=True, rngs={"dropout": jax.random.key(2)})["text"]
  assert not np.allclose(t1, t2)


def test_position_embedding_resampled_for_other_resolutions():
  config = tiny()
  model, params = _init(config)
  assert params["image_tower"]["pos_embedding"].shape == (1, 1 + 4 * 4, 32)
  out = model.apply({"params": params}, jnp.ones((2, 48, 48, 3)), method=model.encode_image)
  assert out.shape == (2, config.model.embed_dim)
  # Resampling to the stored grid is the identity; a constant grid stays constant.
  pe = np.random.default_rng(0).normal(size=(1, 17, 8)).astype(np.float32)
  np.testing.assert_array_equal(vit_lib.resample_posemb(pe, (4, 4)), pe)
  const = np.concatenate([pe[:, :1], np.full((1, 16, 8), 0.5, np.float32)], axis=1)
  up = vit_lib.resample_posemb(const, (6, 6))
  assert up.shape == (1, 37, 8)
  np.testing.assert_array_equal(up[:, :1], pe[:, :1])
  np.testing.assert_allclose(up[:, 1:], 0.5, atol=1e-5)


def test_every_parameter_has_logical_axes():
  for scan in (False, True):
    config = tiny2(**{"model.scan_layers": scan, "model.focus.shared_encoder": False})
    model = models.build_model(config)
    axes = models.logical_axes(model, config)
    shapes = models.abstract_params(model, config)
    is_spec = lambda x: isinstance(x, jax.sharding.PartitionSpec)
    # Same tree structure first: a parameter without axes (or axes without a parameter)
    # would otherwise shift or shorten the pairing below without failing.
    assert jax.tree.structure(axes, is_leaf=is_spec) == jax.tree.structure(shapes)
    for spec, shape in zip(jax.tree.leaves(axes, is_leaf=is_spec), jax.tree.leaves(shapes),
                           strict=True):
      assert isinstance(spec, jax.sharding.PartitionSpec)
      assert len(spec) == len(shape.shape)
    if scan:
      assert axes["image_tower"]["encoder"]["layers"]["mlp"]["fc1"]["kernel"] == (
          jax.sharding.PartitionSpec("layers", "embed", "mlp"))
    assert axes["text_tower"]["word_embeddings"]["embedding"] == jax.sharding.PartitionSpec(
        "vocab", "embed")


@pytest.mark.parametrize("variant,width,depth,heads,patch", [
    ("Ti/16", 192, 12, 3, 16), ("S/16", 384, 12, 6, 16), ("B/16", 768, 12, 12, 16),
    ("L/14", 1024, 24, 16, 14), ("tiny/8", 32, 2, 2, 8), ("micro/8", 32, 1, 2, 8)])
def test_vit_variants(variant, width, depth, heads, patch):
  spec = vit_lib.parse_variant(variant)
  assert (spec["width"], spec["depth"], spec["num_heads"], spec["patch_size"]) == (
      width, depth, heads, patch)


def test_flax_partitioning_boxes_are_unboxed():
  config = tiny()
  model = models.build_model(config)
  params = models.init_params(model, config, jax.random.key(0))
  assert not any(isinstance(x, nn.Partitioned) for x in jax.tree.leaves(
      params, is_leaf=lambda x: isinstance(x, nn.Partitioned)))


def test_convnet_tower_drops_in_for_the_vit():
  config = tiny(**{"model.image.variant": "convnet-tiny"})
  model, params = _init(config)
  # Two stages of 8 and 16 channels; every parameter carries logical axes.
  conv = params["image_tower"]
  assert conv["stage0_conv0"]["kernel"].shape == (3, 3, 3, 8)
  assert conv["stage1_conv0"]["kernel"].shape == (3, 3, 8, 16)
  assert params["image_proj"]["kernel"].shape == (16, config.model.embed_dim)
  axes = models.logical_axes(model, config)
  assert axes["image_tower"]["stage1_conv0"]["kernel"] == jax.sharding.PartitionSpec(
      None, None, None, "embed")
  batch = _batch(config)
  out = models.apply_batch(model, {"params": params}, batch)
  assert out["image"].shape == (3, config.model.embed_dim)
  # Independent check of the tower: conv -> relu -> 2x2 max-pool twice, LayerNorm per
  # position, mean over positions.
  x = np.asarray(batch["image"], np.float64)
  for i in range(2):
    k = np.asarray(conv[f"stage{i}_conv0"]["kernel"], np.float64)
    pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, w = x.shape[1:3]
    y = sum(np.einsum("bhwc,cd->bhwd", pad[:, dy:dy + h, dx:dx + w], k[dy, dx])
            for dy in range(3) for dx in range(3)) + np.asarray(conv[f"stage{i}_conv0"]["bias"])
    y = np.maximum(y, 0)
    x = y.reshape(y.shape[0], h // 2, 2, w // 2, 2, -1).max(axis=(2, 4))
    tokens = x.reshape(x.shape[0], -1, x.shape[-1])
  mu, var = tokens.mean(-1, keepdims=True), tokens.var(-1, keepdims=True)
  tokens = (tokens - mu) / np.sqrt(var + 1e-6) * np.asarray(conv["norm"]["scale"]) + np.asarray(
      conv["norm"]["bias"])
  pooled, _ = model.image_tower.apply({"params": conv}, batch["image"])
  np.testing.assert_allclose(pooled, tokens.mean(1), atol=1e-4)


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 2)])
def test_convnet_max_pool_equals_flax_max_pool_values_and_gradients(shape):
  """The ConvNet's 2x2 pool: nn.max_pool's values (odd sizes drop the last row/column) and,
  after a ReLU (ties are zeros), its gradients."""
  x = jax.random.normal(jax.random.key(0), shape)
  t = jax.random.normal(jax.random.key(1), (shape[0], shape[1] // 2, shape[2] // 2, shape[3]))
  ours = lambda v: jnp.sum(convnet.max_pool_2x2(jax.nn.relu(v)) * t)
  flax_pool = lambda v: jnp.sum(nn.max_pool(jax.nn.relu(v), (2, 2), strides=(2, 2)) * t)
  np.testing.assert_array_equal(convnet.max_pool_2x2(x), nn.max_pool(x, (2, 2), strides=(2, 2)))
  assert float(jnp.mean(jax.nn.relu(x) == 0)) > 0.3  # many zero ties
  np.testing.assert_array_equal(jax.grad(ours)(x), jax.grad(flax_pool)(x))


def test_convnet_variant_errors_name_the_choices():
  from focusclip_jax import config_lib  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match="convnet-<size>"):
    config_lib.validate(tiny(**{"model.image.variant": "convnet-huge"}))
  with pytest.raises(ValueError, match="not a multiple"):
    config_lib.validate(tiny(**{"model.image.variant": "convnet-mini",
                                "model.image.image_size": 36}))


def test_gelu_is_torch_exact_gelu_and_jax_erfc_gelu():
  import torch  # pylint: disable=g-import-not-at-top
  from focusclip_jax.models import layers  # pylint: disable=g-import-not-at-top
  x = np.concatenate([np.linspace(-12, 12, 20001), np.random.default_rng(0).normal(0, 3, 5000)])
  x = x.astype(np.float32)
  ours = np.asarray(jax.jit(layers.gelu)(x))
  ref_torch = torch.nn.functional.gelu(torch.from_numpy(x), approximate="none").numpy()
  ref_jax = np.asarray(jax.nn.gelu(x, approximate=False))
  np.testing.assert_allclose(ours, ref_torch, rtol=3e-7, atol=1e-6)
  np.testing.assert_allclose(ours, ref_jax, rtol=3e-7, atol=1e-6)
  # Gradient against the analytic derivative Phi(x) + x * phi(x), computed in float64.
  xd = x.astype(np.float64)
  from scipy.special import erf  # pylint: disable=g-import-not-at-top
  expected = 0.5 * (1 + erf(xd / np.sqrt(2))) + xd * np.exp(-xd**2 / 2) / np.sqrt(2 * np.pi)
  grad = np.asarray(jax.jit(jax.vmap(jax.grad(layers.gelu)))(x))
  np.testing.assert_allclose(grad, expected, rtol=0, atol=2e-6)


def test_abstract_params_are_memoised_per_model_and_config():
  """The memoised parameter shapes equal a fresh trace of the init, are reused for an equal
  (model, config), and are not reused when a config field the init reads changes."""
  config = tiny()
  model = models.build_model(config)
  fresh = jax.eval_shape(lambda: models.init_params(model, config, jax.random.key(0)))
  shapes = models.abstract_params(model, config)
  assert jax.tree.structure(shapes) == jax.tree.structure(fresh)
  jax.tree.map(lambda a, b: (a.shape, a.dtype) == (b.shape, b.dtype) or pytest.fail(str((a, b))),
               shapes, fresh)
  again = tiny()
  assert models.factory.abstract_boxed(models.build_model(again), again) is (
      models.factory.abstract_boxed(model, config))  # equal model and config: the same entry
  wider = tiny(**{"model.embed_dim": 48})
  assert models.abstract_params(models.build_model(wider), wider)["image_proj"]["kernel"].shape[
      -1] == 48
  # A field only the example batch reads (not the model's own fields): a new entry.
  longer = tiny(**{"model.text.max_length": 8})
  assert models.factory.abstract_boxed(models.build_model(longer), longer) is not (
      models.factory.abstract_boxed(model, config))
  # Under a mesh (logical axis rules active) the abstract values stay plain shapes.
  mesh = sharding.create_mesh(config)
  with sharding.mesh_context(mesh, config):
    leaves = jax.tree.leaves(models.abstract_params(model, config))
  assert all(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)
