"""Checkpoint interchange with the reference PyTorch code (github.com/anon12620/FocusCLIP).

The reference's ``FocusCLIP`` module (docs/method.md §1) holds
  visual.*                    timm ``VisionTransformer`` (``num_classes=0``: no head)
  visual_embed.{weight,bias}  Linear(ViT width -> embed_dim)
  text.*                      transformers ``BertModel`` (its pooler exists but is unused)
  text_embed.{weight,bias}    Linear(BERT width -> embed_dim)
  alpha                       scalar; only FocusCLIP has it (absent: the CLIP baseline)
  visual_masked[_embed].*     the highlighted view's encoder: with ``shared_encoder`` the very
                              modules above (``state_dict()`` lists them twice), else a second
                              ViT + Linear (our ``focus_tower`` / ``focus_proj``)
and its PyTorch Lightning checkpoints prefix every key with ``model.`` (the task's attribute;
docs/method.md §6.1 strips it).

  # reference -> ours: a params-only export for checkpointing.load_for_inference / --mode=eval
  python -m focusclip_jax.convert --from_reference=last.ckpt --out=/tmp/focusclip_ref
  # ours (workdir, step dir or export) -> a safetensors state dict in the reference's names
  python -m focusclip_jax.convert --to_reference=/tmp/run --out=/tmp/focusclip.safetensors

The architecture of an imported checkpoint is read off the weights: widths, depths and MLP
sizes from the matrix shapes, patch size from the patch conv, image size from the position
embedding, vocabulary and positions from BERT's embeddings, FocusCLIP vs the CLIP baseline from
``alpha``, a shared or separate highlighted-view encoder from ``visual_masked``. Head counts
are not in the shapes: they come from the named size (``VIT_SIZES`` / ``BERT_SIZES``) with those
dimensions, or from ``--image_heads`` / ``--text_heads``.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import re
import sys
from typing import Mapping, Sequence

import ml_collections
import numpy as np
from safetensors.numpy import save_file

from focusclip_jax import checkpointing
from focusclip_jax import config_lib
from focusclip_jax import losses
from focusclip_jax import models
from focusclip_jax.models import bert as bert_lib
from focusclip_jax.models import convnet
from focusclip_jax.models import pretrained
from focusclip_jax.models import vit as vit_lib
from focusclip_jax.models import weight_files

CheckpointMismatchError = pretrained.CheckpointMismatchError
LIGHTNING_PREFIX = "model."
REFERENCE_TOKENIZER = "bert-base-uncased"
REFERENCE_CONTEXT_LENGTH = 512  # context_length in the reference's configs/*.yaml
_TORCH_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")


# ------------------------------------------------------------------------------ reading


class _Inert:
  """Stands in for a pickled object whose class torch's weights-only loader does not allow.

  A Lightning checkpoint also pickles the task's hyper-parameters; the reference's are an
  ``easydict.EasyDict``. Mapping such names to this class lets ``torch.load(weights_only=True)``
  read the file without importing or running the named code: each such object becomes an
  ``OrderedDict`` (one of the loader's own types) holding its items, and is never used.
  """

  def __new__(cls, *args, **kwargs):
    del args, kwargs
    return collections.OrderedDict()


def _torch_load(path: str):
  # torch is needed only for pickled checkpoints; imported here so that .safetensors files
  # and the rest of the package work without it.
  try:
    import torch  # pylint: disable=g-import-not-at-top  (optional: only this path)
  except ImportError as e:
    raise ImportError(
        f"Reading {path!r} needs torch (pip install torch). Without torch, save the state "
        "dict as .safetensors elsewhere (safetensors.torch.save_file) and convert that.") from e
  try:
    unknown = torch.serialization.get_unsafe_globals_in_checkpoint(path)
  except Exception:  # pylint: disable=broad-except
    unknown = []  # not a zip checkpoint: the loader names any offending global itself
  with torch.serialization.safe_globals([(_Inert, name) for name in unknown]):
    return torch.load(path, map_location="cpu", weights_only=True)


def read_reference(path: str) -> dict[str, np.ndarray]:
  """A reference checkpoint (Lightning ``.ckpt``, ``.pt``/``.bin`` state dict, ``.safetensors``)
  -> flat {key: np.ndarray}, keys as stored (``model.`` prefix kept)."""
  path = os.path.expanduser(path)
  if not path.endswith(_TORCH_SUFFIXES):
    return weight_files.read_checkpoint(path)
  if not os.path.exists(path):
    raise FileNotFoundError(f"Checkpoint {path!r} does not exist (check --from_reference).")
  try:
    obj = _torch_load(path)
  except ImportError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"Could not read checkpoint {path!r}: {type(e).__name__}: {e}. "
                     "Is the file complete (copy it again)?") from e
  if not isinstance(obj, Mapping):
    raise ValueError(f"{path!r} holds a {type(obj).__name__}, not a state dict or a Lightning "
                     "checkpoint (a dict with 'state_dict').")
  return weight_files.torch_to_numpy(obj)


# ------------------------------------------------------------------------------ import


def _root(flat: Mapping[str, np.ndarray]) -> str:
  """'model.' for a Lightning module's state dict, '' for the bare FocusCLIP module's."""
  return LIGHTNING_PREFIX if any(k.startswith(LIGHTNING_PREFIX) for k in flat) else ""


def _need(flat, key: str) -> np.ndarray:
  if key not in flat:
    raise CheckpointMismatchError(
        f"Not a reference FocusCLIP state dict: {key!r} is missing (it gives the architecture). "
        f"First keys: {sorted(flat)[:8]}")
  return np.asarray(flat[key])


def _depth(flat, prefix: str) -> int:
  pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
  found = {int(m.group(1)) for m in map(pattern.match, flat) if m}
  return max(found) + 1 if found else 0


def _size_name(table: Mapping[str, dict], what: str, flag: str, heads: int | None,
               **dims) -> str:
  """The name in ``table`` with these dimensions (and ``heads`` if given)."""
  names = [n for n, s in table.items() if all(s[k] == v for k, v in dims.items())
           and (heads is None or s["num_heads"] == heads)]
  head_counts = {table[n]["num_heads"] for n in names}
  if len(head_counts) == 1:
    return names[0]
  dims_text = ", ".join(f"{k}={v}" for k, v in dims.items())
  if not names:
    raise ValueError(
        f"The checkpoint's {what} ({dims_text}{'' if heads is None else f', num_heads={heads}'}) "
        f"matches no size in {sorted(table)}; add an entry for it to the table of "
        f"focusclip_jax/models/{what.split()[0].lower()}.py (and pass {flag} for its heads).")
  raise ValueError(f"The checkpoint's {what} ({dims_text}) fits sizes with different head "
                   f"counts {sorted(head_counts)}: pass {flag}.")


def _is_shared(flat, root: str) -> bool:
  """No separate highlighted-view encoder: visual_masked* absent or equal to visual*."""
  masked = {k[len(root + "visual_masked"):]: v for k, v in flat.items()
            if k.startswith(root + "visual_masked")}
  if not masked:
    return True
  plain = {k[len(root + "visual"):]: v for k, v in flat.items()
           if k.startswith((root + "visual.", root + "visual_embed."))}
  return masked.keys() == plain.keys() and all(
      np.array_equal(v, plain[k]) for k, v in masked.items())


def infer_config(flat: Mapping[str, np.ndarray], *, image_heads: int | None = None,
                 text_heads: int | None = None, tokenizer: str = REFERENCE_TOKENIZER,
                 max_length: int = REFERENCE_CONTEXT_LENGTH) -> ml_collections.ConfigDict:
  """Our config for the architecture in a reference state dict (other fields: the recipe)."""
  r = _root(flat)
  patch_w = _need(flat, r + "visual.patch_embed.proj.weight")  # (width, 3, p, p)
  pos = _need(flat, r + "visual.pos_embed")  # (1, 1 + g*g, width)
  grid = int(round((pos.shape[1] - 1)**0.5))
  if grid * grid != pos.shape[1] - 1:
    raise CheckpointMismatchError(
        f"{r}visual.pos_embed has {pos.shape[1] - 1} patch positions: not a square grid")
  vit_name = _size_name(
      vit_lib.VIT_SIZES, "ViT size", "--image_heads", image_heads, width=patch_w.shape[0],
      depth=_depth(flat, r + "visual.blocks."),
      mlp_dim=_need(flat, r + "visual.blocks.0.mlp.fc1.weight").shape[0])
  words = _need(flat, r + "text.embeddings.word_embeddings.weight")
  positions = _need(flat, r + "text.embeddings.position_embeddings.weight")
  bert_name = _size_name(
      bert_lib.BERT_SIZES, "BERT size", "--text_heads", text_heads, width=words.shape[1],
      depth=_depth(flat, r + "text.encoder.layer."),
      mlp_dim=_need(flat, r + "text.encoder.layer.0.intermediate.dense.weight").shape[0])

  config = config_lib.base_config()
  m = config.model
  m.image.variant = f"{vit_name}/{patch_w.shape[-1]}"
  m.image.image_size = grid * patch_w.shape[-1]
  m.image.init = ""  # the weights come from the checkpoint
  m.text.variant = bert_name
  m.text.vocab_size, m.text.max_positions = words.shape[0], positions.shape[0]
  m.text.max_length = min(max_length, positions.shape[0])
  m.text.init = ""
  m.text.tokenizer = tokenizer
  m.embed_dim = _need(flat, r + "visual_embed.weight").shape[0]
  m.focus.enabled = r + "alpha" in flat
  m.focus.shared_encoder = _is_shared(flat, r) if m.focus.enabled else True
  if not m.focus.enabled:
    config.loss.terms = config_lib.CLIP_LOSS_TERMS
  return config_lib.validate(config)


def _dense(flat, key: str, expected, used: set[str], problems: list[str]):
  """A torch Linear ``key``.{weight,bias} -> our Dense params shaped like ``expected``."""
  out = {}
  for name, ours, transform in (("weight", "kernel", np.transpose), ("bias", "bias", None)):
    k = f"{key}.{name}"
    if k not in flat:
      problems.append(f"missing in the checkpoint: {k}")
      continue
    used.add(k)
    v = np.asarray(flat[k])
    v = transform(v) if transform is not None else v
    if v.shape != tuple(expected[ours].shape):
      problems.append(f"shape mismatch: {k} gives {v.shape}, the model needs "
                      f"{tuple(expected[ours].shape)}")
    out[ours] = v.astype(expected[ours].dtype)
  return out


def from_reference(flat: Mapping[str, np.ndarray], **infer_kwargs):
  """A reference state dict -> (our config, our params). ``infer_kwargs``: see infer_config.

  Every key is used or known to be unused (BERT's pooler and ``position_ids`` buffer, the
  aliases of a shared encoder); anything missing, unexpected or mis-shaped is reported in one
  ``CheckpointMismatchError``. Keys outside a Lightning checkpoint's ``model.`` (a learned
  loss temperature) are skipped with a log line.
  """
  r = _root(flat)
  outside = sorted(k for k in flat if not k.startswith(r))
  if outside:
    logging.info("Skipping keys outside the Lightning module's %r: %s", r, outside)
  config = infer_config(flat, **infer_kwargs)
  model = models.build_model(config)
  expected = models.abstract_params(model, config)
  params, problems, used = {}, [], set()

  def tower(name, convert, src_prefix, **kwargs):
    try:
      params[name] = convert(flat, expected[name], prefix=src_prefix, **kwargs)
    except CheckpointMismatchError as e:
      problems.extend(e.problems)

  heads_i, heads_t = model.image_tower.num_heads, model.text_tower.num_heads
  tower("image_tower", pretrained.convert_vit, r + "visual.", num_heads=heads_i, fmt="timm")
  tower("text_tower", pretrained.convert_bert, r + "text.", num_heads=heads_t)
  params["image_proj"] = _dense(flat, r + "visual_embed", expected["image_proj"], used, problems)
  params["text_proj"] = _dense(flat, r + "text_embed", expected["text_proj"], used, problems)
  towers = (r + "visual.", r + "text.")
  if config.model.focus.enabled:
    used.add(r + "alpha")
    alpha = np.asarray(flat[r + "alpha"])
    if alpha.size != 1:
      problems.append(f"shape mismatch: {r}alpha has shape {alpha.shape}, a scalar is needed")
    params["alpha"] = alpha.reshape(()).astype(expected["alpha"].dtype)
    if config.model.focus.shared_encoder:
      towers += (r + "visual_masked.", r + "visual_masked_embed.")  # aliases of visual*
    else:
      towers += (r + "visual_masked.",)
      tower("focus_tower", pretrained.convert_vit, r + "visual_masked.", num_heads=heads_i,
            fmt="timm")
      params["focus_proj"] = _dense(flat, r + "visual_masked_embed", expected["focus_proj"],
                                    used, problems)
  unexpected = sorted(k for k in flat if k.startswith(r) and k not in used
                      and not k.startswith(towers))
  if unexpected:
    problems.append("unexpected in the checkpoint (not part of FocusCLIP): "
                    + ", ".join(unexpected))
  if problems:
    raise CheckpointMismatchError(
        "The checkpoint does not fit the FocusCLIP architecture read off its weights "
        f"({config.model.image.variant} at {config.model.image.image_size} px, "
        f"{config.model.text.variant} BERT):\n  - " + "\n  - ".join(problems), problems)
  return config, params


# ------------------------------------------------------------------------------ export


def to_reference(params, config: ml_collections.ConfigDict, *, prefix: str = LIGHTNING_PREFIX,
                 strict_keys: bool = True) -> dict[str, np.ndarray]:
  """Our params -> a state dict in the reference's names and layouts (float32).

  ``prefix``: 'model.' as in a Lightning checkpoint's state_dict, '' for the bare module.
  ``strict_keys``: also write what the reference model's ``state_dict()`` holds besides the
  weights FocusCLIP uses, so that ``load_state_dict(strict=True)`` succeeds with the pinned
  transformers 4.28: the shared encoder's ``visual_masked*`` aliases (copies), BERT's unused
  pooler (zeros) and its ``position_ids`` buffer. False writes each used weight once (load with
  ``strict=False``, as the reference's own Lightning loader does).
  """
  m = config.model
  if convnet.is_convnet(m.image.variant):
    raise ValueError(f"The reference has a ViT image tower; {m.image.variant!r} has no "
                     "counterpart there.")
  for field, value, reference in (("model.image.pool", m.image.pool, "token"),
                                  ("model.text.pooling", m.text.pooling, "mean_all"),
                                  ("model.image.input_norm", m.image.input_norm, "none")):
    if value != reference:
      logging.warning("config.%s = %r: the reference code computes %r, so its embeddings "
                      "will differ from this model's.", field, value, reference)
  params, _ = losses.split_params(params)
  sd = {"visual." + k: v for k, v in pretrained.vit_to_timm(params["image_tower"]).items()}
  sd.update({"text." + k: v for k, v in pretrained.bert_to_hf(params["text_tower"]).items()})
  for ours, theirs in (("image_proj", "visual_embed"), ("text_proj", "text_embed")):
    sd[theirs + ".weight"] = np.asarray(params[ours]["kernel"]).T
    sd[theirs + ".bias"] = params[ours]["bias"]
  if m.focus.enabled:
    alpha = np.asarray(params["alpha"], np.float32)
    if m.focus.alpha_param != "unconstrained":
      # The reference's alpha is the value that multiplies the background.
      alpha = (1 / (1 + np.exp(-alpha)) if m.focus.alpha_param == "sigmoid"
               else np.clip(alpha, 0.0, 1.0)).astype(np.float32)
      logging.warning("alpha_param=%r: writing the effective alpha %.6f (the reference's "
                      "alpha is unconstrained)", m.focus.alpha_param, float(alpha))
    sd["alpha"] = alpha
    if not m.focus.shared_encoder:
      sd.update({"visual_masked." + k: v
                 for k, v in pretrained.vit_to_timm(params["focus_tower"]).items()})
      sd["visual_masked_embed.weight"] = np.asarray(params["focus_proj"]["kernel"]).T
      sd["visual_masked_embed.bias"] = params["focus_proj"]["bias"]
    elif strict_keys:
      sd.update({"visual_masked" + k[len("visual"):]: v for k, v in list(sd.items())
                 if k.startswith(("visual.", "visual_embed."))})
  if strict_keys:
    width = sd["text.embeddings.word_embeddings.weight"].shape[1]
    sd["text.pooler.dense.weight"] = np.zeros((width, width), np.float32)
    sd["text.pooler.dense.bias"] = np.zeros((width,), np.float32)
    sd["text.embeddings.position_ids"] = np.arange(m.text.max_positions, dtype=np.int64)[None]
  # np.array, not np.ascontiguousarray: that turns the 0-d alpha into shape (1,).
  return {prefix + k: np.array(v, dtype=np.int64 if v.dtype.kind == "i" else np.float32, order="C")
          for k, v in ((k, np.asarray(v)) for k, v in sd.items())}


# ------------------------------------------------------------------------------ files


def convert_from_reference(src: str, out: str, **infer_kwargs) -> str:
  """Reference checkpoint file -> a params-only export at ``out`` (params/ + config.json)."""
  flat = read_reference(src)  # its errors name the file already
  try:
    config, params = from_reference(flat, **infer_kwargs)
  except CheckpointMismatchError as e:
    raise CheckpointMismatchError(f"{src}: {e}", e.problems) from e
  except ValueError as e:
    raise ValueError(f"{src}: {e}") from e
  return checkpointing.export_params(out, params, config)


def convert_to_reference(src: str, out: str, *, prefix: str = LIGHTNING_PREFIX,
                         strict_keys: bool = True) -> str:
  """Our workdir / step dir / export -> a safetensors state dict in the reference's names."""
  if not out.endswith(".safetensors"):
    raise ValueError(f"--out={out!r}: the reference state dict is written as .safetensors")
  _, params, config = checkpointing.load_for_inference(src)
  sd = to_reference(params, config, prefix=prefix, strict_keys=strict_keys)
  os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
  save_file(sd, out, metadata={"format": "pt"})
  return out


def main(argv: Sequence[str] | None = None) -> int:
  p = argparse.ArgumentParser(prog="python -m focusclip_jax.convert", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  direction = p.add_mutually_exclusive_group(required=True)
  direction.add_argument("--from_reference", metavar="CKPT",
                         help="reference checkpoint: Lightning .ckpt, .pt/.bin state dict or "
                         ".safetensors")
  direction.add_argument("--to_reference", metavar="DIR",
                         help="our workdir, checkpoint step dir or params export")
  p.add_argument("--out", required=True,
                 help="--from_reference: export directory; --to_reference: .safetensors file")
  p.add_argument("--image_heads", type=int, default=None,
                 help="ViT heads (default: those of the named size with the checkpoint's shapes)")
  p.add_argument("--text_heads", type=int, default=None, help="BERT heads (likewise)")
  p.add_argument("--tokenizer", default=REFERENCE_TOKENIZER,
                 help="tokenizer written into the config (hub id or local directory)")
  p.add_argument("--max_length", type=int, default=REFERENCE_CONTEXT_LENGTH,
                 help="tokens per text (the reference pads to 512)")
  p.add_argument("--prefix", default=LIGHTNING_PREFIX,
                 help="--to_reference: key prefix ('model.' as Lightning; '' for the bare module)")
  p.add_argument("--no_strict_keys", action="store_true",
                 help="--to_reference: write each used weight once, without the shared "
                 "encoder's aliases, BERT's pooler and position_ids (load with strict=False)")
  args = p.parse_args(argv)
  if args.from_reference:
    out = convert_from_reference(args.from_reference, args.out, image_heads=args.image_heads,
                                 text_heads=args.text_heads, tokenizer=args.tokenizer,
                                 max_length=args.max_length)
    print(f"Wrote {out}; evaluate with: python main.py --config=configs/vitb16.py "
          f"--workdir=WORKDIR --mode=eval --config.eval.checkpoint={out}")
  else:
    out = convert_to_reference(args.to_reference, args.out, prefix=args.prefix,
                               strict_keys=not args.no_strict_keys)
    print(f"Wrote {out}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
