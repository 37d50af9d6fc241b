"""Weight import: parity with transformers' PyTorch ViTModel / BertModel, other namings, errors."""

import sys
import tempfile

import flax.linen as nn
import jax
import numpy as np
import pytest
import torch
import transformers

from focusclip_jax import models
from focusclip_jax.models import bert as bert_lib
from focusclip_jax.models import params_util
from focusclip_jax.models import pretrained
from focusclip_jax.models import vit as vit_lib
from focusclip_jax.models import weight_files
from input_pipeline.tokenizer import Tokenizer
from tests.helpers import tiny

D, DEPTH, HEADS, MLP, PATCH, IMG = 64, 2, 4, 128, 8, 32
TOL = 1e-4


def _randomize(module: torch.nn.Module, seed: int):
  """Every weight random (LayerNorm scales around 1) so no mapping error can hide."""
  g = torch.Generator().manual_seed(seed)
  with torch.no_grad():
    for name, p in module.named_parameters():
      noise = torch.randn(p.shape, generator=g) * 0.1
      p.copy_(1.0 + noise if ("LayerNorm.weight" in name or "layernorm" in name and
                              name.endswith("weight")) else noise)
  return module.eval()


def _sd(module):
  """The module's weights as transformers writes them to disk (the hub checkpoint naming)."""
  with tempfile.TemporaryDirectory() as d:
    module.save_pretrained(d)
    return weight_files.read_checkpoint(d)


def _memory_sd(module):
  """transformers >= 5 in-memory state_dict naming (differs from the file naming for ViT)."""
  return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


@pytest.fixture(scope="module")
def hf_vit():
  cfg = transformers.ViTConfig(hidden_size=D, num_hidden_layers=DEPTH, num_attention_heads=HEADS,
                               intermediate_size=MLP, image_size=IMG, patch_size=PATCH,
                               layer_norm_eps=1e-6, hidden_act="gelu", qkv_bias=True)
  return _randomize(transformers.ViTModel(cfg, add_pooling_layer=False), 0)


def _our_vit(scan=False, grid=IMG // PATCH):
  return vit_lib.ViT(width=D, depth=DEPTH, mlp_dim=MLP, num_heads=HEADS, patch_size=PATCH,
                     posemb_grid=grid, scan=scan)


def _expected(module, x):
  return jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.key(0), x))["params"])


def _images(n=2, size=IMG, seed=0):
  return np.random.default_rng(seed).uniform(size=(n, size, size, 3)).astype(np.float32)


def _hf_vit_out(hf, x):
  with torch.no_grad():
    return hf(pixel_values=torch.from_numpy(x.transpose(0, 3, 1, 2))).last_hidden_state.numpy()


def _check_vit(params, hf, scan=False):
  x = _images()
  tower = _our_vit(scan)
  pooled, tokens = tower.apply({"params": params}, x)
  ref = _hf_vit_out(hf, x)
  assert np.abs(np.asarray(tokens) - ref).max() <= TOL
  assert np.abs(np.asarray(pooled) - ref[:, 0]).max() <= TOL


@pytest.mark.parametrize("scan", [False, True])
def test_vit_parity_with_transformers(hf_vit, scan):
  tower = _our_vit(scan)
  params = pretrained.convert_vit(_sd(hf_vit), _expected(tower, _images(1)), num_heads=HEADS)
  _check_vit(params, hf_vit, scan)


def test_vit_parity_from_in_memory_state_dict(hf_vit):
  sd = _memory_sd(hf_vit)
  assert any(k.startswith("layers.0.attention.q_proj") for k in sd)
  params = pretrained.convert_vit(sd, _expected(_our_vit(), _images(1)), num_heads=HEADS)
  _check_vit(params, hf_vit)


def test_vit_from_classification_model_with_prefix(hf_vit, tmp_path):
  clf = transformers.ViTForImageClassification(hf_vit.config)
  clf.vit.load_state_dict(hf_vit.state_dict())
  clf.save_pretrained(tmp_path)  # model.safetensors with 'vit.' prefix and a classifier
  flat = weight_files.read_checkpoint(str(tmp_path))
  assert any(k.startswith("vit.") for k in flat) and any(k.startswith("classifier") for k in flat)
  params = pretrained.convert_vit(flat, _expected(_our_vit(), _images(1)), num_heads=HEADS)
  _check_vit(params, hf_vit)


def _to_timm(sd, depth=DEPTH, head=True):
  """Independent rename of HF ViT weights to timm's names (fused qkv); ``head``: add a
  classifier (as timm's ImageNet models have; FocusCLIP's ``num_classes=0`` ViT has none)."""
  t = {"cls_token": sd["embeddings.cls_token"], "pos_embed": sd["embeddings.position_embeddings"],
       "patch_embed.proj.weight": sd["embeddings.patch_embeddings.projection.weight"],
       "patch_embed.proj.bias": sd["embeddings.patch_embeddings.projection.bias"],
       "norm.weight": sd["layernorm.weight"], "norm.bias": sd["layernorm.bias"]}
  if head:
    width = sd["layernorm.weight"].shape[0]
    t["head.weight"], t["head.bias"] = np.zeros((10, width), np.float32), np.zeros(10, np.float32)
  for i in range(depth):
    h = f"encoder.layer.{i}."
    b = f"blocks.{i}."
    a = h + "attention.attention."
    t[b + "attn.qkv.weight"] = np.concatenate([sd[a + n + ".weight"]
                                               for n in ("query", "key", "value")])
    t[b + "attn.qkv.bias"] = np.concatenate([sd[a + n + ".bias"] for n in ("query", "key", "value")])
    for ours, theirs in [("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
                         ("attn.proj", "attention.output.dense"),
                         ("mlp.fc1", "intermediate.dense"), ("mlp.fc2", "output.dense")]:
      t[b + ours + ".weight"] = sd[h + theirs + ".weight"]
      t[b + ours + ".bias"] = sd[h + theirs + ".bias"]
  return t


def test_vit_timm_naming(hf_vit):
  params = pretrained.convert_vit(_to_timm(_sd(hf_vit)), _expected(_our_vit(), _images(1)),
                                  num_heads=HEADS, fmt="timm")
  _check_vit(params, hf_vit)


def _to_augreg(sd, big_vision_scanned=False):
  """Independent rename of HF ViT weights to the AugReg .npz layout (vision_transformer repo)."""
  hd = D // HEADS
  n = {"embedding/kernel": sd["embeddings.patch_embeddings.projection.weight"].transpose(2, 3, 1, 0),
       "embedding/bias": sd["embeddings.patch_embeddings.projection.bias"],
       "cls": sd["embeddings.cls_token"],
       "Transformer/posembed_input/pos_embedding": sd["embeddings.position_embeddings"],
       "Transformer/encoder_norm/scale": sd["layernorm.weight"],
       "Transformer/encoder_norm/bias": sd["layernorm.bias"],
       "head/kernel": np.zeros((D, 10), np.float32), "head/bias": np.zeros(10, np.float32)}
  for i in range(DEPTH):
    h = f"encoder.layer.{i}."
    b = f"Transformer/encoderblock_{i}/"
    mha = b + "MultiHeadDotProductAttention_1/"
    for name in ("query", "key", "value"):
      n[mha + name + "/kernel"] = sd[h + f"attention.attention.{name}.weight"].T.reshape(D, HEADS, hd)
      n[mha + name + "/bias"] = sd[h + f"attention.attention.{name}.bias"].reshape(HEADS, hd)
    n[mha + "out/kernel"] = sd[h + "attention.output.dense.weight"].T.reshape(HEADS, hd, D)
    n[mha + "out/bias"] = sd[h + "attention.output.dense.bias"]
    n[b + "LayerNorm_0/scale"] = sd[h + "layernorm_before.weight"]
    n[b + "LayerNorm_0/bias"] = sd[h + "layernorm_before.bias"]
    n[b + "LayerNorm_2/scale"] = sd[h + "layernorm_after.weight"]
    n[b + "LayerNorm_2/bias"] = sd[h + "layernorm_after.bias"]
    n[b + "MlpBlock_3/Dense_0/kernel"] = sd[h + "intermediate.dense.weight"].T
    n[b + "MlpBlock_3/Dense_0/bias"] = sd[h + "intermediate.dense.bias"]
    n[b + "MlpBlock_3/Dense_1/kernel"] = sd[h + "output.dense.weight"].T
    n[b + "MlpBlock_3/Dense_1/bias"] = sd[h + "output.dense.bias"]
  if not big_vision_scanned:
    return n
  # big_vision: 'params/img/' prefix, scanned 'encoderblock' stacks, LayerNorm_1 /
  # MultiHeadDotProductAttention_0 / MlpBlock_0 names, and a position embedding without the
  # [cls] row (cls gets no position embedding there).
  bv = {}
  for k, v in n.items():
    if k.startswith("Transformer/encoderblock_"):
      continue
    if k == "Transformer/posembed_input/pos_embedding":
      bv["params/img/pos_embedding"] = v[:, 1:]
      continue
    bv["params/img/" + k] = v
  renames = {"MultiHeadDotProductAttention_1": "MultiHeadDotProductAttention_0",
             "LayerNorm_2": "LayerNorm_1", "MlpBlock_3": "MlpBlock_0"}
  suffixes = sorted({k.split("/", 2)[2] for k in n if k.startswith("Transformer/encoderblock_")})
  for s in suffixes:
    stacked = np.stack([n[f"Transformer/encoderblock_{i}/{s}"] for i in range(DEPTH)])
    for a, b in renames.items():
      s = s.replace(a, b)
    bv["params/img/Transformer/encoderblock/" + s] = stacked
  return bv


def test_vit_augreg_npz(hf_vit, tmp_path):
  path = tmp_path / "B_16-fake.npz"
  np.savez(path, **_to_augreg(_sd(hf_vit)))
  params = pretrained.convert_vit(weight_files.read_checkpoint(str(path)),
                                  _expected(_our_vit(), _images(1)), num_heads=HEADS)
  _check_vit(params, hf_vit)


def test_vit_big_vision_scanned_npz(hf_vit, tmp_path):
  with torch.no_grad():
    hf_vit.embeddings.position_embeddings[:, 0] = 0.0  # big_vision: cls has no posemb
  path = tmp_path / "bv.npz"
  np.savez(path, **_to_augreg(_sd(hf_vit), big_vision_scanned=True))
  params = pretrained.convert_vit(weight_files.read_checkpoint(str(path)),
                                  _expected(_our_vit(scan=True), _images(1)), num_heads=HEADS)
  _check_vit(params, hf_vit, scan=True)


def _cubic_matrix(n_in, n_out, a=-0.5):
  """(n_out, n_in) resampling matrix of Keys' cubic convolution (a = -0.5, the kernel of PIL's
  and TensorFlow's bicubic) with half-pixel centres; taps that fall outside the grid are
  dropped and the remaining weights renormalised."""
  centres = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
  x = np.abs(centres[:, None] - np.arange(n_in)[None])
  w = np.where(x <= 1, (a + 2) * x**3 - (a + 3) * x**2 + 1,
               np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0))
  return w / w.sum(1, keepdims=True)


def test_cubic_matrix_hand_checked():
  # 2 -> 4 pixels: output centres at -0.25, 0.25, 0.75, 1.25 in input coordinates. By hand,
  # Keys(0.25) = 0.8671875, Keys(0.75) = 0.2265625, Keys(1.25) = -0.0703125; the taps at
  # pixels -1 and 2 are outside the grid.
  m = _cubic_matrix(2, 4)
  np.testing.assert_allclose(m[0], np.array([0.8671875, -0.0703125]) / 0.796875, rtol=1e-12)
  np.testing.assert_allclose(m[1], np.array([0.8671875, 0.2265625]) / 1.09375, rtol=1e-12)
  np.testing.assert_allclose(m[2:], m[1::-1, ::-1], rtol=1e-12)  # mirror symmetry


def test_vit_posemb_resampled_on_load(hf_vit):
  tower = _our_vit(grid=6)
  params = pretrained.convert_vit(_sd(hf_vit), _expected(tower, _images(1, 48)), num_heads=HEADS)
  pe = _sd(hf_vit)["embeddings.position_embeddings"]
  assert params["pos_embedding"].shape == (1, 37, D)
  # Independent expectation: the separable cubic resampling of the 4x4 grid to 6x6 written
  # out as matrices; the [cls] row unchanged.
  m = _cubic_matrix(4, 6)
  grid = np.einsum("ai,bj,ijd->abd", m, m, pe[0, 1:].astype(np.float64).reshape(4, 4, D))
  np.testing.assert_array_equal(params["pos_embedding"][0, 0], pe[0, 0])
  np.testing.assert_allclose(params["pos_embedding"][0, 1:], grid.reshape(36, D), atol=1e-5)
  pooled, _ = tower.apply({"params": params}, _images(1, 48))
  assert np.all(np.isfinite(pooled))


def test_mismatches_reported_together(hf_vit):
  sd = _sd(hf_vit)
  del sd["encoder.layer.1.attention.attention.key.bias"]
  sd["encoder.layer.0.layer_scale.gamma"] = np.ones(D, np.float32)
  sd["layernorm.weight"] = np.ones(D + 1, np.float32)
  with pytest.raises(pretrained.CheckpointMismatchError) as e:
    pretrained.convert_vit(sd, _expected(_our_vit(), _images(1)), num_heads=HEADS)
  msg = str(e.value)
  assert "missing in the checkpoint: encoder.layer.1.attention.attention.key.bias" in msg
  assert "unexpected in the checkpoint (not used by the model): encoder.layer.0.layer_scale" in msg
  assert "encoder_norm/scale: checkpoint (65,) vs model (64,)" in msg


def test_wrong_depth_reported(hf_vit):
  deeper = vit_lib.ViT(width=D, depth=3, mlp_dim=MLP, num_heads=HEADS, patch_size=PATCH,
                       posemb_grid=4)
  with pytest.raises(pretrained.CheckpointMismatchError, match="encoder.layer.2"):
    pretrained.convert_vit(_sd(hf_vit), _expected(deeper, _images(1)), num_heads=HEADS)


def test_unknown_file_and_missing_path_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="does not exist"):
    weight_files.read_checkpoint(str(tmp_path / "nope.npz"))
  bad = tmp_path / "truncated.safetensors"
  bad.write_bytes(b"\x10\x00\x00")
  with pytest.raises(ValueError, match="Could not read checkpoint"):
    weight_files.read_checkpoint(str(bad))
  with pytest.raises(pretrained.CheckpointMismatchError, match="Not a ViT checkpoint"):
    pretrained.convert_vit({"foo": np.zeros(1)}, {}, num_heads=1)


# ------------------------------------------------------------------------------- BERT

V, P = 1000, 64


@pytest.fixture(scope="module")
def hf_bert():
  cfg = transformers.BertConfig(vocab_size=V, hidden_size=D, num_hidden_layers=DEPTH,
                                num_attention_heads=HEADS, intermediate_size=MLP,
                                max_position_embeddings=P, hidden_act="gelu")
  return _randomize(transformers.BertModel(cfg, add_pooling_layer=False), 1)


def _our_bert(scan=False, pooling="mean_all"):
  return bert_lib.BERT(vocab_size=V, max_positions=P, width=D, depth=DEPTH, num_heads=HEADS,
                       mlp_dim=MLP, pooling=pooling, scan=scan)


def _text(n=3, L=24, seed=0):
  rng = np.random.default_rng(seed)
  lengths = np.array([L, 5, 11])[:n]
  mask = (np.arange(L)[None] < lengths[:, None]).astype(np.int32)
  ids = (rng.integers(1, V, size=(n, L)) * mask).astype(np.int32)
  return ids, mask


def _bert_expected(module):
  ids, mask = _text()
  return _expected_text(module, ids, mask)


def _expected_text(module, ids, mask):
  return jax.eval_shape(lambda: nn.meta.unbox(module.init(jax.random.key(0), ids, mask))["params"])


def _hf_text(hf, ids, mask):
  with torch.no_grad():
    return hf(input_ids=torch.from_numpy(ids).long(),
              attention_mask=torch.from_numpy(mask).long()).last_hidden_state.numpy()


@pytest.mark.parametrize("scan", [False, True])
def test_bert_parity_with_transformers(hf_bert, scan):
  module = _our_bert(scan)
  params = pretrained.convert_bert(_sd(hf_bert), _bert_expected(module), num_heads=HEADS)
  ids, mask = _text()
  pooled, hidden = module.apply({"params": params}, ids, mask)
  ref = _hf_text(hf_bert, ids, mask)
  assert np.abs(np.asarray(hidden) - ref).max() <= TOL  # pad positions included
  assert np.abs(np.asarray(pooled) - ref.mean(1)).max() <= TOL  # mean_all = reference pooling
  masked, _ = _our_bert(scan, "mean_masked").apply({"params": params}, ids, mask)
  want = (ref * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
  assert np.abs(np.asarray(masked) - want).max() <= TOL


def test_bert_with_prefix_heads_and_gamma_beta_names(hf_bert):
  mlm = transformers.BertForMaskedLM(hf_bert.config)
  mlm.bert.load_state_dict(hf_bert.state_dict())
  sd = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"):
        v for k, v in _sd(mlm).items()}
  assert any(k.startswith("bert.") for k in sd) and any(k.startswith("cls.") for k in sd)
  module = _our_bert()
  params = pretrained.convert_bert(sd, _bert_expected(module), num_heads=HEADS)
  ids, mask = _text()
  _, hidden = module.apply({"params": params}, ids, mask)
  assert np.abs(np.asarray(hidden) - _hf_text(hf_bert, ids, mask)).max() <= TOL


def test_real_minilm_weights_reproduce_transformers(minilm_dir):
  hf = transformers.BertModel.from_pretrained(minilm_dir, add_pooling_layer=False).eval()
  tok = Tokenizer(minilm_dir, 32)
  ids, mask = tok(["a photo of a person riding a horse",
                   "There are two people in the image who are playing volleyball. The person "
                   "on the left has their right arm raised above the head.",
                   "a photo of a angry looking face"])
  module = bert_lib.BERT(**bert_lib.parse_variant("minilm-l6"))
  params = pretrained.convert_bert(weight_files.read_checkpoint(minilm_dir),
                                   _expected_text(module, ids, mask), num_heads=12)
  pooled, hidden = module.apply({"params": params}, ids, mask)
  ref = _hf_text(hf, ids, mask)
  assert np.abs(np.asarray(hidden) - ref).max() <= TOL
  assert np.abs(np.asarray(pooled) - ref.mean(1)).max() <= TOL


# ------------------------------------------------------------------- parameter counts


@pytest.mark.parametrize("variant,patch,img", [("B/16", 16, 224), ("tiny/8", 8, 32)])
def test_vit_param_count_equals_transformers(variant, patch, img):
  spec = vit_lib.parse_variant(variant)
  hf = transformers.ViTModel(transformers.ViTConfig(
      hidden_size=spec["width"], num_hidden_layers=spec["depth"],
      num_attention_heads=spec["num_heads"], intermediate_size=spec["mlp_dim"],
      image_size=img, patch_size=patch), add_pooling_layer=False)
  ours = vit_lib.ViT(**spec, posemb_grid=img // patch)
  n_ours = params_util.count_params(_expected(ours, np.zeros((1, img, img, 3), np.float32)))
  assert n_ours == sum(p.numel() for p in hf.parameters())
  if variant == "B/16":
    assert n_ours == 85_798_656


@pytest.mark.parametrize("variant", ["bert-base", "minilm-l6", "tiny"])
def test_bert_param_count_equals_transformers(variant):
  spec = bert_lib.parse_variant(variant)
  hf = transformers.BertModel(transformers.BertConfig(
      hidden_size=spec["width"], num_hidden_layers=spec["depth"],
      num_attention_heads=spec["num_heads"], intermediate_size=spec["mlp_dim"]),
      add_pooling_layer=False)
  ours = bert_lib.BERT(**spec)
  ids = np.zeros((1, 8), np.int32)
  n_ours = params_util.count_params(_expected_text(ours, ids, np.ones_like(ids)))
  assert n_ours == sum(p.numel() for p in hf.parameters())


# ------------------------------------------------------------------- from the config


def test_config_init_loads_both_towers(hf_vit, hf_bert, tmp_path):
  np.savez(tmp_path / "vit.npz", **_to_augreg(_sd(hf_vit)))
  hf_bert.save_pretrained(tmp_path / "bert")
  config = tiny(**{
      "model.image.variant": "tiny/8", "model.image.image_size": IMG,
      "model.image.init": str(tmp_path / "vit.npz"), "model.text.init": str(tmp_path / "bert"),
      "model.text.vocab_size": V, "model.text.max_positions": P,
      "model.focus.shared_encoder": False})
  # The tiny variant is width 32; use a width-64 spec matching the checkpoints.
  vit_lib.VIT_SIZES["parity64"] = dict(width=D, depth=DEPTH, mlp_dim=MLP, num_heads=HEADS)
  bert_lib.BERT_SIZES["parity64"] = dict(width=D, depth=DEPTH, num_heads=HEADS, mlp_dim=MLP)
  try:
    config.model.image.variant = "parity64/8"
    config.model.text.variant = "parity64"
    model = models.build_model(config)
    params = models.init_params(model, config, jax.random.key(0))
    loaded = pretrained.load_pretrained_towers(params, model, config)
  finally:
    del vit_lib.VIT_SIZES["parity64"], bert_lib.BERT_SIZES["parity64"]
  _check_vit(loaded["image_tower"], hf_vit)
  _check_vit(loaded["focus_tower"], hf_vit)
  ids, mask = _text()
  _, hidden = _our_bert().apply({"params": loaded["text_tower"]}, ids, mask)
  assert np.abs(np.asarray(hidden) - _hf_text(hf_bert, ids, mask)).max() <= TOL
  np.testing.assert_array_equal(loaded["image_proj"]["kernel"], params["image_proj"]["kernel"])


def test_safetensors_and_npz_are_read_without_torch(minilm_dir, hf_vit, tmp_path, monkeypatch):
  np.savez(tmp_path / "v.npz", **_to_augreg(_sd(hf_vit)))
  monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
  flat = weight_files.read_checkpoint(minilm_dir)
  assert flat["embeddings.word_embeddings.weight"].shape == (30522, 384)
  assert "cls" in weight_files.read_checkpoint(str(tmp_path / "v.npz"))
