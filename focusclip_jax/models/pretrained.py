"""Import of pretrained tower weights into our parameter trees.

Image tower (ViT), three namings:
  ``hf``     transformers ``ViTModel`` / ``ViTFor*`` state dicts (``embeddings.patch_embeddings...``,
             optional ``vit.`` prefix);
  ``timm``   timm ``VisionTransformer`` (``patch_embed.proj``, fused ``attn.qkv``);
  ``augreg`` Google's ``.npz`` checkpoints: google-research/vision_transformer and the AugReg
             release (``Transformer/encoderblock_0/MultiHeadDotProductAttention_1/...``; the
             paper's weights) and big_vision (``params/img/Transformer/encoderblock_0/...``,
             also scanned ``encoderblock``).
Text tower (BERT): transformers ``BertModel`` / ``BertFor*`` (with or without ``bert.``,
``LayerNorm.weight|bias`` or the older ``gamma|beta``).

Files (``.safetensors``, ``.npz``, ``.bin``/``.pt``, directories, ``gs://``, hub ids) are read
by ``focusclip_jax.models.weight_files``.

Every key of the checkpoint is either used or known to be irrelevant (poolers, heads);
missing, unexpected and mis-shaped keys are reported together in one
``CheckpointMismatchError``. ``vit_to_timm`` and ``bert_to_hf`` are the inverse mappings (our
towers -> timm / transformers state-dict names and layouts), used by ``focusclip_jax.convert``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Mapping

import numpy as np

from focusclip_jax.models import params_util
from focusclip_jax.models import vit as vit_lib
from focusclip_jax.models import weight_files

# Keys that exist in public checkpoints but have no counterpart in our towers.
_IGNORED = re.compile(
    r"(^|[./])(pooler|classifier|head|pre_logits|cls\.predictions|cls\.seq_relationship|"
    r"predictions|seq_relationship|lm_head)([./]|$)|position_ids$|num_batches_tracked$")


class CheckpointMismatchError(ValueError):
  """The checkpoint does not fit the model; the message lists every offending key.

  ``problems`` holds the individual findings, so that callers converting several parts of
  one checkpoint can report them all in a single error.
  """

  def __init__(self, message: str, problems: tuple[str, ...] | list[str] = ()):
    super().__init__(message)
    self.problems = list(problems) or [message]


# ------------------------------------------------------------------------------ conversion


class _Source:
  """Tracks which checkpoint keys were used and which were asked for but absent."""

  def __init__(self, flat: Mapping[str, np.ndarray], prefix: str = ""):
    self.flat = flat
    self.prefix = prefix
    self.used: set[str] = set()
    self.missing: list[str] = []

  def get(self, *names: str, index: int | None = None):
    """First of ``names`` (prefixed) present; ``index`` selects a row of a scanned stack."""
    for n in names:
      key = self.prefix + n
      if key in self.flat:
        self.used.add(key)
        x = np.asarray(self.flat[key])
        return x[index] if index is not None else x
    self.missing.append(self.prefix + names[0])
    return None

  def has(self, name: str) -> bool:
    return self.prefix + name in self.flat

  def unexpected(self) -> list[str]:
    return sorted(k for k in self.flat
                  if k not in self.used and k.startswith(self.prefix) and not _IGNORED.search(k))


def _t(x):
  return None if x is None else x.T


def _heads_in(w, b, num_heads):
  """torch Linear (out=D, in=D) -> kernel (D, H, hd), bias (H, hd)."""
  if w is None or b is None:
    return None, None
  d = w.shape[1]
  return w.T.reshape(d, num_heads, -1), b.reshape(num_heads, -1)


def _heads_out(w, b, num_heads):
  """torch Linear (out=D, in=D) -> kernel (H, hd, D), bias (D,)."""
  if w is None:
    return None, b
  return w.T.reshape(num_heads, -1, w.shape[0]), b


def _ln(scale, bias):
  return {"scale": scale, "bias": bias}


def _dense(kernel, bias):
  return {"kernel": kernel, "bias": bias}


def _block(ln_attn, q, k, v, out, ln_mlp, fc1, fc2):
  return {
      "ln_attn": _ln(*ln_attn),
      "attn": {"query": _dense(*q), "key": _dense(*k), "value": _dense(*v), "out": _dense(*out)},
      "ln_mlp": _ln(*ln_mlp),
      "mlp": {"fc1": _dense(*fc1), "fc2": _dense(*fc2)},
  }


def detect_vit_format(flat: Mapping[str, Any]) -> tuple[str, str]:
  """Returns (format, key prefix) of a ViT checkpoint."""
  for key in flat:
    for fmt, suffix in (("hf", "embeddings.patch_embeddings.projection.weight"),
                        ("timm", "patch_embed.proj.weight"),
                        ("augreg", "embedding/kernel")):
      if key.endswith(suffix):
        return fmt, key[:-len(suffix)]
  raise CheckpointMismatchError(
      "Not a ViT checkpoint in a known naming (transformers ViTModel, timm, or AugReg/big_vision "
      f".npz); first keys: {sorted(flat)[:8]}")


# transformers ViT block names: the checkpoint-file (hub) naming, and the in-memory naming
# of transformers >= 5 ``ViTModel.state_dict()`` (files are still written in the first).
_HF_VIT_BLOCK_NAMES = {
    "file": dict(block="encoder.layer.{i}.", ln1="layernorm_before", ln2="layernorm_after",
                 q="attention.attention.query", k="attention.attention.key",
                 v="attention.attention.value", o="attention.output.dense",
                 fc1="intermediate.dense", fc2="output.dense"),
    "v5": dict(block="layers.{i}.", ln1="layernorm_before", ln2="layernorm_after",
               q="attention.q_proj", k="attention.k_proj", v="attention.v_proj",
               o="attention.o_proj", fc1="mlp.fc1", fc2="mlp.fc2"),
}


def _vit_hf(src: _Source, depth: int, num_heads: int):
  tree = {
      "embedding": _dense(
          _conv(src.get("embeddings.patch_embeddings.projection.weight")),
          src.get("embeddings.patch_embeddings.projection.bias")),
      "cls": src.get("embeddings.cls_token"),
      "pos_embedding": src.get("embeddings.position_embeddings"),
      "encoder_norm": _ln(src.get("layernorm.weight"), src.get("layernorm.bias")),
      "encoder": {},
  }
  names = _HF_VIT_BLOCK_NAMES["v5" if src.has("layers.0.attention.q_proj.weight") else "file"]
  for i in range(depth):
    prefix = names["block"].format(i=i)
    w = lambda n, p=prefix: (src.get(p + names[n] + ".weight"), src.get(p + names[n] + ".bias"))
    tree["encoder"][f"block_{i}"] = _block(
        w("ln1"),
        _heads_in(*w("q"), num_heads),
        _heads_in(*w("k"), num_heads),
        _heads_in(*w("v"), num_heads),
        _heads_out(*w("o"), num_heads),
        w("ln2"),
        _linear(*w("fc1")),
        _linear(*w("fc2")),
    )
  return tree


def _linear(w, b):
  """torch Linear weight (out, in), bias -> flax kernel (in, out), bias."""
  return _t(w), b


def _conv(w):
  """torch conv weight (O, I, kh, kw) -> flax (kh, kw, I, O)."""
  return None if w is None else w.transpose(2, 3, 1, 0)


def _vit_timm(src: _Source, depth: int, num_heads: int):
  tree = {
      "embedding": _dense(_conv(src.get("patch_embed.proj.weight")),
                          src.get("patch_embed.proj.bias")),
      "cls": src.get("cls_token"),
      "pos_embedding": src.get("pos_embed"),
      "encoder_norm": _ln(src.get("norm.weight"), src.get("norm.bias")),
      "encoder": {},
  }
  for i in range(depth):
    g = lambda n, i=i: src.get(f"blocks.{i}.{n}")
    qkv_w, qkv_b = g("attn.qkv.weight"), g("attn.qkv.bias")
    if qkv_w is not None and qkv_b is not None:
      qs = [_heads_in(w, b, num_heads) for w, b in zip(np.split(qkv_w, 3), np.split(qkv_b, 3))]
    else:
      qs = [(None, None)] * 3
    tree["encoder"][f"block_{i}"] = _block(
        (g("norm1.weight"), g("norm1.bias")), *qs,
        _heads_out(g("attn.proj.weight"), g("attn.proj.bias"), num_heads),
        (g("norm2.weight"), g("norm2.bias")),
        (_t(g("mlp.fc1.weight")), g("mlp.fc1.bias")),
        (_t(g("mlp.fc2.weight")), g("mlp.fc2.bias")),
    )
  return tree


def _vit_augreg(src: _Source, depth: int, num_heads: int):
  del num_heads  # already stored per head
  posemb = src.get("Transformer/posembed_input/pos_embedding", "pos_embedding")
  if posemb is not None and src.has("pos_embedding") and not src.has(
      "Transformer/posembed_input/pos_embedding"):
    # big_vision adds the position embedding before prepending [cls]: cls gets none.
    posemb = np.concatenate([np.zeros_like(posemb[:, :1]), posemb], axis=1)
  tree = {
      "embedding": _dense(src.get("embedding/kernel"), src.get("embedding/bias")),
      "cls": src.get("cls"),
      "pos_embedding": posemb,
      "encoder_norm": _ln(src.get("Transformer/encoder_norm/scale"),
                          src.get("Transformer/encoder_norm/bias")),
      "encoder": {},
  }
  scanned = any(k.startswith(src.prefix + "Transformer/encoderblock/") for k in src.flat)
  for i in range(depth):
    blk = "Transformer/encoderblock/" if scanned else f"Transformer/encoderblock_{i}/"
    idx = i if scanned else None

    def g(*names, blk=blk, idx=idx):
      return src.get(*[blk + n for n in names], index=idx)

    mha = ("MultiHeadDotProductAttention_1/", "MultiHeadDotProductAttention_0/")
    mlp = ("MlpBlock_3/", "MlpBlock_0/", "MlpBlock_1/")
    ln2 = ("LayerNorm_2/", "LayerNorm_1/")
    att = lambda n: (g(*[m + n + "/kernel" for m in mha]), g(*[m + n + "/bias" for m in mha]))
    tree["encoder"][f"block_{i}"] = _block(
        (g("LayerNorm_0/scale"), g("LayerNorm_0/bias")),
        att("query"), att("key"), att("value"), att("out"),
        (g(*[n + "scale" for n in ln2]), g(*[n + "bias" for n in ln2])),
        (g(*[m + "Dense_0/kernel" for m in mlp]), g(*[m + "Dense_0/bias" for m in mlp])),
        (g(*[m + "Dense_1/kernel" for m in mlp]), g(*[m + "Dense_1/bias" for m in mlp])),
    )
  return tree


_VIT_CONVERTERS: dict[str, Callable] = {"hf": _vit_hf, "timm": _vit_timm, "augreg": _vit_augreg}
INIT_FORMATS = ("auto", *_VIT_CONVERTERS)  # config.model.image.init_format


def _bert_hf(src: _Source, depth: int, num_heads: int):
  def ln(prefix):
    return _ln(src.get(prefix + ".weight", prefix + ".gamma"),
               src.get(prefix + ".bias", prefix + ".beta"))

  tree = {
      "word_embeddings": {"embedding": src.get("embeddings.word_embeddings.weight")},
      "position_embeddings": {"embedding": src.get("embeddings.position_embeddings.weight")},
      "token_type_embeddings": {"embedding": src.get("embeddings.token_type_embeddings.weight")},
      "embeddings_ln": ln("embeddings.LayerNorm"),
      "encoder": {},
  }
  for i in range(depth):
    p = f"encoder.layer.{i}."
    g = lambda n, p=p: src.get(p + n)
    lnp = ln(p + "attention.output.LayerNorm")
    lnm = ln(p + "output.LayerNorm")
    tree["encoder"][f"block_{i}"] = _block(
        (lnp["scale"], lnp["bias"]),
        _heads_in(g("attention.self.query.weight"), g("attention.self.query.bias"), num_heads),
        _heads_in(g("attention.self.key.weight"), g("attention.self.key.bias"), num_heads),
        _heads_in(g("attention.self.value.weight"), g("attention.self.value.bias"), num_heads),
        _heads_out(g("attention.output.dense.weight"), g("attention.output.dense.bias"),
                   num_heads),
        (lnm["scale"], lnm["bias"]),
        (_t(g("intermediate.dense.weight")), g("intermediate.dense.bias")),
        (_t(g("output.dense.weight")), g("output.dense.bias")),
    )
  return tree


def _bert_prefix(flat: Mapping[str, Any]) -> str:
  suffix = "embeddings.word_embeddings.weight"
  for key in flat:
    if key.endswith(suffix):
      return key[:-len(suffix)]
  raise CheckpointMismatchError(
      "Not a BERT checkpoint in transformers naming (no '*embeddings.word_embeddings.weight'); "
      f"first keys: {sorted(flat)[:8]}")


# ------------------------------------------------------------------------------ checking


def _check(tree, expected, src: _Source, what: str):
  """Compares a converted (unscanned) tree to the expected (unscanned) shapes."""
  got = params_util.flatten(tree)
  want = params_util.flatten(expected)
  problems = []
  if src.missing:
    problems.append("missing in the checkpoint: " + ", ".join(src.missing))
  unexpected = src.unexpected()
  if unexpected:
    problems.append("unexpected in the checkpoint (not used by the model): " + ", ".join(unexpected))
  extra = sorted(k for k in got if k not in want and got[k] is not None)
  if extra:
    problems.append("converted parameters the model does not have: " + ", ".join(extra))
  not_filled = sorted(k for k in want if k not in got)
  if not_filled:
    problems.append("model parameters with no checkpoint value: " + ", ".join(not_filled))
  mismatched = [f"{k}: checkpoint {tuple(got[k].shape)} vs model {tuple(want[k].shape)}"
                for k in sorted(want) if got.get(k) is not None and
                tuple(got[k].shape) != tuple(want[k].shape)]
  if mismatched:
    problems.append("shape mismatches: " + "; ".join(mismatched))
  if problems:
    raise CheckpointMismatchError(
        f"The {what} checkpoint does not fit the configured model:\n  - " + "\n  - ".join(problems)
        + "\nCheck the variant (config.model.*.variant) against the checkpoint.", problems)
  return {k: np.asarray(got[k]).astype(want[k].dtype) for k in want}


def _unscanned(expected):
  return params_util.unstack_layers(expected)


def _finish(flat_checked, scanned: bool):
  tree = params_util.unflatten(flat_checked)
  return params_util.stack_layers(tree) if scanned else tree


def _is_scanned(expected) -> bool:
  return "layers" in expected.get("encoder", {})


def convert_vit(flat: Mapping[str, np.ndarray], expected, *, num_heads: int,
                fmt: str = "auto", prefix: str | None = None):
  """A ViT checkpoint (flat dict) -> our image-tower params shaped like ``expected``.

  ``expected`` is the tower's param tree (arrays or ShapeDtypeStructs), scanned or not. The
  position embedding is resampled when the checkpoint's patch grid differs from the model's.
  ``prefix``: the tower's key prefix (e.g. ``visual.``) when the file holds more than one
  ViT; by default the prefix of the first ViT found.
  """
  detected, prefix = detect_vit_format(
      flat if prefix is None else {k: v for k, v in flat.items() if k.startswith(prefix)})
  if fmt not in ("auto", detected):
    raise CheckpointMismatchError(f"config says init_format={fmt!r} but the file is {detected!r}")
  src = _Source(flat, prefix)
  want = _unscanned(expected)
  depth = len(want["encoder"])
  tree = _VIT_CONVERTERS[detected](src, depth, num_heads)
  pe, pe_want = tree.get("pos_embedding"), want["pos_embedding"]
  if pe is not None and pe.shape != tuple(pe_want.shape) and pe.shape[-1] == pe_want.shape[-1]:
    g = int(round((pe_want.shape[1] - 1)**0.5))
    logging.info("Resampling the position embedding from %s to %s", pe.shape, pe_want.shape)
    tree["pos_embedding"] = vit_lib.resample_posemb(pe, (g, g), num_prefix=1)
  return _finish(_check(tree, want, src, f"ViT ({detected})"), _is_scanned(expected))


def convert_bert(flat: Mapping[str, np.ndarray], expected, *, num_heads: int,
                 prefix: str | None = None):
  """A transformers BERT checkpoint (flat dict) -> our text-tower params like ``expected``."""
  src = _Source(flat, _bert_prefix(
      flat if prefix is None else {k: v for k, v in flat.items() if k.startswith(prefix)}))
  want = _unscanned(expected)
  tree = _bert_hf(src, len(want["encoder"]), num_heads)
  return _finish(_check(tree, want, src, "BERT"), _is_scanned(expected))


# ------------------------------------------------------------------------------ export


def _torch_linear(dense, *, heads: str = ""):
  """Inverse of ``_linear`` / ``_heads_in`` / ``_heads_out``: our Dense -> torch (weight, bias).

  ``heads``: '' = kernel (in, out); 'in' = (D, H, hd) and bias (H, hd); 'out' = (H, hd, D).
  """
  k, b = np.asarray(dense["kernel"]), np.asarray(dense["bias"])
  if heads == "in":
    k, b = k.reshape(k.shape[0], -1), b.reshape(-1)
  elif heads == "out":
    k = k.reshape(-1, k.shape[-1])
  return k.T, b


def vit_to_timm(tree) -> dict[str, np.ndarray]:
  """Our ViT params (scanned or not) -> a timm ``VisionTransformer`` state dict (no head).

  The inverse of the ``timm`` import: conv kernel to (O, I, kh, kw), Linear kernels
  transposed, query/key/value fused into ``attn.qkv`` as timm stores them.
  """
  tree = params_util.unstack_layers(tree)
  out = {"patch_embed.proj.weight": np.asarray(tree["embedding"]["kernel"]).transpose(3, 2, 0, 1),
         "patch_embed.proj.bias": tree["embedding"]["bias"], "cls_token": tree["cls"],
         "pos_embed": tree["pos_embedding"], "norm.weight": tree["encoder_norm"]["scale"],
         "norm.bias": tree["encoder_norm"]["bias"]}
  for i in range(len(tree["encoder"])):
    blk, p = tree["encoder"][f"block_{i}"], f"blocks.{i}."
    qkv = [_torch_linear(blk["attn"][n], heads="in") for n in ("query", "key", "value")]
    out[p + "attn.qkv.weight"] = np.concatenate([w for w, _ in qkv])
    out[p + "attn.qkv.bias"] = np.concatenate([b for _, b in qkv])
    out[p + "attn.proj.weight"], out[p + "attn.proj.bias"] = _torch_linear(
        blk["attn"]["out"], heads="out")
    for ours, theirs in (("ln_attn", "norm1"), ("ln_mlp", "norm2")):
      out[p + theirs + ".weight"], out[p + theirs + ".bias"] = blk[ours]["scale"], blk[ours]["bias"]
    for n in ("fc1", "fc2"):
      out[p + f"mlp.{n}.weight"], out[p + f"mlp.{n}.bias"] = _torch_linear(blk["mlp"][n])
  return {k: np.ascontiguousarray(v) for k, v in out.items()}


def bert_to_hf(tree) -> dict[str, np.ndarray]:
  """Our BERT params (scanned or not) -> a transformers ``BertModel`` state dict (no pooler)."""
  tree = params_util.unstack_layers(tree)
  out = {f"embeddings.{n}.weight": tree[n]["embedding"]
         for n in ("word_embeddings", "position_embeddings", "token_type_embeddings")}
  out["embeddings.LayerNorm.weight"] = tree["embeddings_ln"]["scale"]
  out["embeddings.LayerNorm.bias"] = tree["embeddings_ln"]["bias"]
  for i in range(len(tree["encoder"])):
    blk, p = tree["encoder"][f"block_{i}"], f"encoder.layer.{i}."
    linears = {"attention.self.query": (blk["attn"]["query"], "in"),
               "attention.self.key": (blk["attn"]["key"], "in"),
               "attention.self.value": (blk["attn"]["value"], "in"),
               "attention.output.dense": (blk["attn"]["out"], "out"),
               "intermediate.dense": (blk["mlp"]["fc1"], ""),
               "output.dense": (blk["mlp"]["fc2"], "")}
    for name, (dense, heads) in linears.items():
      out[p + name + ".weight"], out[p + name + ".bias"] = _torch_linear(dense, heads=heads)
    for ours, theirs in (("ln_attn", "attention.output.LayerNorm"), ("ln_mlp", "output.LayerNorm")):
      out[p + theirs + ".weight"], out[p + theirs + ".bias"] = blk[ours]["scale"], blk[ours]["bias"]
  return {k: np.ascontiguousarray(v) for k, v in out.items()}


def load_pretrained_towers(params, model, config):
  """Replaces the towers in ``params`` by the checkpoints named in ``config.model.*.init``.

  With a separate focus encoder, the focus tower starts from the image weights too.
  Returns a new params dict; ``params`` may be concrete arrays or ShapeDtypeStructs.
  """
  params = dict(params)
  image_init, text_init = config.model.image.init, config.model.text.init
  if image_init:
    logging.info("Loading image tower weights from %s", image_init)
    tower = convert_vit(weight_files.read_checkpoint(image_init), params["image_tower"],
                        num_heads=model.image_tower.num_heads,
                        fmt=config.model.image.init_format)
    params["image_tower"] = tower
    if "focus_tower" in params:
      params["focus_tower"] = tower
  if text_init:
    logging.info("Loading text tower weights from %s", text_init)
    params["text_tower"] = convert_bert(weight_files.read_checkpoint(text_init),
                                        params["text_tower"],
                                        num_heads=model.text_tower.num_heads)
  return params
