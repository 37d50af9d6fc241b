"""Checkpoint interchange with the reference PyTorch code: names, layouts, parity, errors, CLI.

The reference's FocusCLIP holds a timm ViT (``visual.*``) and a transformers BertModel
(``text.*``). timm is not installed here, so its state dict is built from a transformers
``ViTModel`` by the independent rename in test_pretrained (``_to_timm``); the PyTorch
embeddings of the reference are computed with the transformers modules and torch Linears:
image = class token after the final LayerNorm -> Linear, text = mean over all positions ->
Linear (docs/method.md §1).
"""

import sys
import types

import jax
import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file
from safetensors.numpy import save_file

from focusclip_jax import checkpointing
from focusclip_jax import convert
from focusclip_jax import evaluation
from focusclip_jax import models
from focusclip_jax.models import params_util
from tests import test_eval_datasets_b as dsb
from tests import test_pretrained as tp
from tests.helpers import tiny2 as tiny  # two blocks: layer order in checkpoints

# The 'tiny' ViT and BERT sizes (vit.VIT_SIZES / bert.BERT_SIZES), so the architecture can be
# read off the weights; the bert-base-uncased vocabulary, so the real tokenizer fits.
W, DEPTH, HEADS, MLP, PATCH, IMG, VOCAB, POS, EMBED = 32, 2, 2, 64, 8, 32, 30522, 64, 24
REL_TOL = 1e-5


@pytest.fixture(scope="module")
def torch_reference():
  """The reference's towers and projections as PyTorch modules with random weights."""
  vit = tp._randomize(transformers.ViTModel(transformers.ViTConfig(  # pylint: disable=protected-access
      hidden_size=W, num_hidden_layers=DEPTH, num_attention_heads=HEADS, intermediate_size=MLP,
      image_size=IMG, patch_size=PATCH, layer_norm_eps=1e-6, hidden_act="gelu", qkv_bias=True),
      add_pooling_layer=False), 10)
  bert = tp._randomize(transformers.BertModel(transformers.BertConfig(  # pylint: disable=protected-access
      vocab_size=VOCAB, hidden_size=W, num_hidden_layers=DEPTH, num_attention_heads=HEADS,
      intermediate_size=MLP, max_position_embeddings=POS, hidden_act="gelu")), 11)
  torch.manual_seed(12)
  projections = {"visual_embed": torch.nn.Linear(W, EMBED), "text_embed": torch.nn.Linear(W, EMBED)}
  return vit, bert, projections


def _reference_state_dict(torch_reference, alpha=0.37, lightning=True):
  """The reference FocusCLIP's state_dict() (shared encoder: visual_masked* listed again)."""
  vit, bert, projections = torch_reference
  sd = {"visual." + k: v for k, v in tp._to_timm(tp._sd(vit), DEPTH, head=False).items()}  # pylint: disable=protected-access
  sd.update({"text." + k: v for k, v in tp._sd(bert).items()})  # pylint: disable=protected-access
  sd["text.embeddings.position_ids"] = np.arange(POS, dtype=np.int64)[None]  # transformers 4.28
  for name, linear in projections.items():
    sd[name + ".weight"] = linear.weight.detach().numpy().copy()
    sd[name + ".bias"] = linear.bias.detach().numpy().copy()
  if alpha is not None:
    sd["alpha"] = np.array(alpha, np.float32)
    sd.update({"visual_masked" + k[len("visual"):]: v for k, v in list(sd.items())
               if k.startswith(("visual.", "visual_embed."))})
  return {("model." if lightning else "") + k: v for k, v in sd.items()}


def _inputs():
  rng = np.random.default_rng(0)
  images = rng.uniform(size=(2, IMG, IMG, 3)).astype(np.float32)
  lengths = np.array([POS, 7, 20])
  mask = (np.arange(POS)[None] < lengths[:, None]).astype(np.int32)
  ids = (rng.integers(1, VOCAB, size=(3, POS)) * mask).astype(np.int32)
  return images, ids, mask


def _torch_embeddings(torch_reference, images, ids, mask):
  vit, bert, projections = torch_reference
  with torch.no_grad():
    cls = vit(pixel_values=torch.from_numpy(images.transpose(0, 3, 1, 2))).last_hidden_state[:, 0]
    hidden = bert(input_ids=torch.from_numpy(ids).long(),
                  attention_mask=torch.from_numpy(mask).long()).last_hidden_state
    return (projections["visual_embed"](cls).numpy(),
            projections["text_embed"](hidden.mean(1)).numpy())


def _our_embeddings(model, params, images, ids, mask):
  # One jit per function: compiling the whole encoder is much cheaper than op-by-op dispatch.
  image = jax.jit(lambda p, x: model.apply({"params": p}, x, method=model.encode_image))
  text = jax.jit(lambda p, i, m: model.apply({"params": p}, i, m, method=model.encode_text))
  return np.asarray(image(params, images)), np.asarray(text(params, ids, mask))


def _random_params(config, seed):
  """Random values (not the initialisers': every LayerNorm scale and bias differs) shaped like
  the model's parameters, without running its init."""
  model = models.build_model(config)
  rng = np.random.default_rng(seed)
  return model, jax.tree.map(lambda s: (0.1 * rng.standard_normal(s.shape)).astype(s.dtype),
                             models.abstract_params(model, config))


def _assert_rel_close(got, want):
  assert np.abs(got - want).max() <= REL_TOL * np.abs(want).max()


def test_reference_state_dict_gives_the_pytorch_embeddings(torch_reference):
  config, params = convert.from_reference(_reference_state_dict(torch_reference))
  m = config.model
  assert (m.image.variant, m.image.image_size, m.text.variant) == ("tiny/8", IMG, "tiny")
  assert (m.text.vocab_size, m.text.max_positions, m.text.max_length) == (VOCAB, POS, POS)
  assert m.embed_dim == EMBED and m.focus.enabled and m.focus.shared_encoder
  assert float(params["alpha"]) == np.float32(0.37)
  model = models.build_model(config)
  inputs = _inputs()
  image, text = _our_embeddings(model, params, *inputs)
  want_image, want_text = _torch_embeddings(torch_reference, *inputs)
  _assert_rel_close(image, want_image)
  _assert_rel_close(text, want_text)


def test_clip_baseline_and_separate_focus_encoder_are_read_off_the_weights(torch_reference):
  sd = _reference_state_dict(torch_reference, alpha=None, lightning=False)
  config, params = convert.from_reference(sd)
  assert not config.model.focus.enabled and "alpha" not in params
  assert config.model.text.tokenizer == "bert-base-uncased"
  sd = _reference_state_dict(torch_reference)
  sd["model.visual_masked.blocks.1.mlp.fc2.bias"] = sd["model.visual.blocks.1.mlp.fc2.bias"] + 1
  config, params = convert.from_reference(sd)
  assert config.model.focus.enabled and not config.model.focus.shared_encoder
  np.testing.assert_array_equal(
      params["focus_tower"]["encoder"]["block_1"]["mlp"]["fc2"]["bias"],
      sd["model.visual.blocks.1.mlp.fc2.bias"] + 1)
  np.testing.assert_array_equal(params["focus_proj"]["kernel"],
                                sd["model.visual_masked_embed.weight"].T)


@pytest.mark.parametrize("overrides", [
    {},
    {"model.focus.shared_encoder": False, "model.scan_layers": True},
    {"model.focus.enabled": False, "loss.terms": (("image", "text", 1.0),)},
])
def test_round_trip_is_bit_exact(overrides):
  config = tiny(**overrides)
  _, params = _random_params(config, 1)
  sd = convert.to_reference(params, config)
  assert all(k.startswith("model.") for k in sd)
  new_config, back = convert.from_reference(sd, tokenizer=config.model.text.tokenizer,
                                            max_length=config.model.text.max_length)
  for field in ("image.variant", "image.image_size", "text.variant", "text.vocab_size",
                "text.max_positions", "text.max_length", "embed_dim", "focus.enabled",
                "focus.shared_encoder"):
    assert new_config.model[field] == config.model[field], field
  ours = params_util.flatten(params_util.unstack_layers(params))
  theirs = params_util.flatten(back)
  assert ours.keys() == theirs.keys()
  for k, v in ours.items():
    assert theirs[k].dtype == v.dtype and np.array_equal(theirs[k], v), k


def _from_timm(t, depth):
  """Independent inverse of test_pretrained's rename: timm names -> transformers ViTModel."""
  sd = {"embeddings.cls_token": t["cls_token"], "embeddings.position_embeddings": t["pos_embed"],
        "embeddings.patch_embeddings.projection.weight": t["patch_embed.proj.weight"],
        "embeddings.patch_embeddings.projection.bias": t["patch_embed.proj.bias"],
        "layernorm.weight": t["norm.weight"], "layernorm.bias": t["norm.bias"]}
  for i in range(depth):
    h, b = f"encoder.layer.{i}.", f"blocks.{i}."
    for name, w, bias in zip(("query", "key", "value"), np.split(t[b + "attn.qkv.weight"], 3),
                             np.split(t[b + "attn.qkv.bias"], 3)):
      sd[h + f"attention.attention.{name}.weight"], sd[h + f"attention.attention.{name}.bias"] = w, bias
    for theirs, hf in (("norm1", "layernorm_before"), ("norm2", "layernorm_after"),
                       ("attn.proj", "attention.output.dense"), ("mlp.fc1", "intermediate.dense"),
                       ("mlp.fc2", "output.dense")):
      sd[h + hf + ".weight"], sd[h + hf + ".bias"] = t[b + theirs + ".weight"], t[b + theirs + ".bias"]
  return sd


def test_exported_state_dict_loads_strictly_into_pytorch_and_matches(torch_reference, tmp_path):
  config = tiny(**{"model.text.vocab_size": VOCAB, "model.text.max_positions": POS,
                   "model.text.max_length": POS, "model.embed_dim": EMBED})
  model, params = _random_params(config, 2)
  save_file(convert.to_reference(params, config, prefix=""), str(tmp_path / "ref.safetensors"))
  sd = load_file(str(tmp_path / "ref.safetensors"))
  # transformers >= 4.31 no longer stores position_ids (the reference pins 4.28, which does).
  assert np.array_equal(sd.pop("text.embeddings.position_ids"), np.arange(POS)[None])
  vit_config, bert_config = torch_reference[0].config, torch_reference[1].config
  bert = transformers.BertModel(bert_config).eval()  # with the pooler, as the reference's
  projections = {k: torch.nn.Linear(W, EMBED) for k in ("visual_embed", "text_embed")}
  load = lambda module, prefix: module.load_state_dict(  # strict: every key used, none missing
      {k[len(prefix):]: torch.from_numpy(v) for k, v in sd.items() if k.startswith(prefix)})
  # The ViT through a transformers checkpoint file (its in-memory names vary by version).
  timm_sd = {k[len("visual."):]: v for k, v in sd.items() if k.startswith("visual.")}
  vit_config.save_pretrained(tmp_path / "vit")
  save_file(_from_timm(timm_sd, DEPTH), str(tmp_path / "vit" / "model.safetensors"),
            metadata={"format": "pt"})
  vit, info = transformers.ViTModel.from_pretrained(tmp_path / "vit", add_pooling_layer=False,
                                                    output_loading_info=True)
  assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
  vit.eval()
  load(bert, "text.")
  load(projections["visual_embed"], "visual_embed.")
  load(projections["text_embed"], "text_embed.")
  masked = {k for k in sd if k.startswith("visual_masked")}
  assert masked == {k.replace("visual", "visual_masked", 1) for k in sd if k.startswith("visual")
                    and not k.startswith("visual_masked")}
  assert sd["alpha"].shape == () and sd["alpha"] == params["alpha"]  # torch: Parameter(tensor(.5))
  inputs = _inputs()
  image, text = _our_embeddings(model, params, *inputs)
  want_image, want_text = _torch_embeddings((vit, bert, projections), *inputs)
  _assert_rel_close(image, want_image)
  _assert_rel_close(text, want_text)
  lean = convert.to_reference(params, config, strict_keys=False)
  assert not any("pooler" in k or "position_ids" in k or "visual_masked" in k for k in lean)


def test_missing_and_extra_keys_fail_with_one_message(torch_reference):
  sd = _reference_state_dict(torch_reference)
  del sd["model.text.encoder.layer.1.attention.self.key.bias"]
  del sd["model.text_embed.bias"]
  sd["model.visual.blocks.0.ls1.gamma"] = np.ones(W, np.float32)
  sd["model.logit_scale"] = np.ones((), np.float32)
  sd["model.visual_embed.weight"] = sd["model.visual_embed.weight"][:, :-1]
  with pytest.raises(convert.CheckpointMismatchError) as e:
    convert.from_reference(sd)
  msg = str(e.value)
  for key in ("model.text.encoder.layer.1.attention.self.key.bias", "model.text_embed.bias",
              "model.visual.blocks.0.ls1.gamma", "model.logit_scale", "model.visual_embed.weight"):
    assert key in msg, key
  assert "missing in the checkpoint: model.text_embed.bias" in msg
  assert "unexpected in the checkpoint (not part of FocusCLIP): model.logit_scale" in msg


def test_unknown_architecture_names_the_fix(torch_reference):
  sd = _reference_state_dict(torch_reference)
  with pytest.raises(ValueError, match="different head counts|--image_heads"):
    convert.infer_config(sd, image_heads=3)
  del sd["model.visual.patch_embed.proj.weight"]
  with pytest.raises(convert.CheckpointMismatchError, match="patch_embed.proj.weight"):
    convert.infer_config(sd)


def _lightning_ckpt(path, state_dict, monkeypatch):
  """A PyTorch Lightning checkpoint as the reference's trainer writes it: hyper-parameters
  are an easydict.EasyDict (a class outside torch's weights-only allowlist)."""
  easydict = types.ModuleType("easydict")

  class EasyDict(dict):
    def __init__(self, d=None):
      super().__init__(d or {})
      self.__dict__.update(d or {})

  EasyDict.__module__, EasyDict.__qualname__ = "easydict", "EasyDict"
  easydict.EasyDict = EasyDict
  monkeypatch.setitem(sys.modules, "easydict", easydict)
  cfg = EasyDict({"MODEL": EasyDict({"NAME": "focusclip", "KWARGS": {"shared_encoder": True}})})
  state = {k: torch.from_numpy(np.array(v)) for k, v in state_dict.items()}
  state["loss_fn.temperature"] = torch.tensor(0.5)  # learn_temperature: outside 'model.'
  torch.save({"epoch": 63, "global_step": 1000, "pytorch-lightning_version": "2.0.2",
              "state_dict": state, "hyper_parameters": {"cfg": cfg},
              "optimizer_states": [{"state": {}, "param_groups": [{"lr": 5e-4}]}]}, path)
  monkeypatch.delitem(sys.modules, "easydict")


def test_cli_lightning_ckpt_to_eval_and_back(torch_reference, tmp_path, monkeypatch, minilm_dir):
  ref = _reference_state_dict(torch_reference)
  _lightning_ckpt(tmp_path / "last.ckpt", ref, monkeypatch)
  out = tmp_path / "converted"
  assert convert.main(["--from_reference", str(tmp_path / "last.ckpt"), "--out", str(out),
                       "--tokenizer", minilm_dir]) == 0
  model, params, config = checkpointing.load_for_inference(str(out))
  inputs = _inputs()
  image, text = _our_embeddings(model, params, *inputs)
  want_image, want_text = _torch_embeddings(torch_reference, *inputs)
  _assert_rel_close(image, want_image)
  _assert_rel_close(text, want_text)

  # What --mode=eval --config.eval.checkpoint=DIR runs.
  eval_config = tiny(**{"eval.checkpoint": str(out), "eval.tasks": ("fer2013",),
                        "eval.retrieval": False, "eval.num_plot_examples": 0,
                        "eval.data_root": str(tmp_path / "data")})
  dsb.make_fer2013(str(tmp_path / "data" / "fer2013"))
  summary = evaluation.evaluate_checkpoint(eval_config, str(tmp_path / "workdir"))
  assert 0 <= summary["zeroshot"]["fer2013"]["score"] <= 100

  back = tmp_path / "back.safetensors"
  assert convert.main(["--to_reference", str(out), "--out", str(back)]) == 0
  written = load_file(str(back))
  assert written.keys() == ref.keys()
  for k, v in ref.items():  # BERT's pooler is unused: not imported, exported as zeros
    assert np.array_equal(written[k], np.zeros_like(v) if ".pooler." in k else v), k


def test_safetensors_input_needs_no_torch(torch_reference, tmp_path, monkeypatch):
  save_file(_reference_state_dict(torch_reference, lightning=False),
            str(tmp_path / "ref.safetensors"))
  monkeypatch.setitem(sys.modules, "torch", None)  # any `import torch` now fails
  convert.main(["--from_reference", str(tmp_path / "ref.safetensors"), "--out",
                str(tmp_path / "out")])
  assert (tmp_path / "out" / "config.json").exists()
  (tmp_path / "x.ckpt").write_bytes(b"PK")
  with pytest.raises(ImportError, match="needs torch"):
    convert.read_reference(str(tmp_path / "x.ckpt"))


def test_cli_errors_name_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.ckpt"):
    convert.main(["--from_reference", str(tmp_path / "nope.ckpt"), "--out", str(tmp_path / "o")])
  with pytest.raises(SystemExit):
    convert.main(["--out", str(tmp_path / "o")])  # neither direction
