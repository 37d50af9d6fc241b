"""Reads pretrained weight files into a flat ``{name: np.ndarray}``.

``.safetensors`` (read without torch), ``.npz``, ``.bin``/``.pt`` (needs torch), a Hugging Face
model directory, a ``gs://`` (or any ``tf.io.gfile``) path, or a Hugging Face hub id
(``bert-base-uncased``; downloaded by ``huggingface_hub`` into its cache unless offline).
``pretrained`` maps what this reads onto our towers; ``focusclip_jax.convert`` reads the
reference's checkpoints with it.
"""

from __future__ import annotations

import io
import os
import re
from typing import Mapping

import numpy as np
import safetensors.numpy


def _looks_like_hub_id(path: str) -> bool:
  return (not os.path.exists(path) and "://" not in path and not path.startswith((".", "/", "~"))
          and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", path) is not None
          and not re.search(r"\.(npz|safetensors|bin|pt|pth)$", path))


def _hub_snapshot(repo_id: str) -> str:
  try:
    import huggingface_hub  # pylint: disable=g-import-not-at-top  (hub ids only)
    return huggingface_hub.snapshot_download(
        repo_id, allow_patterns=["*.safetensors", "*.json", "*.txt", "pytorch_model.bin"])
  except Exception as e:  # pylint: disable=broad-except
    raise FileNotFoundError(
        f"Could not get the Hugging Face model {repo_id!r} ({type(e).__name__}: {e}). "
        "Without network access, download it elsewhere and point the config at the local "
        "directory or file (config.model.*.init), or set it to '' for random init.") from e


def _read_bytes(path: str) -> bytes:
  # TF's gfile only for gs:// paths: loading local weights does not import TensorFlow.
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.io.gfile.GFile(path, "rb") as f:
    return f.read()


def torch_to_numpy(obj) -> dict[str, np.ndarray]:
  """A torch state dict (or a checkpoint dict holding one under 'state_dict') -> NumPy."""
  if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
    obj = obj["state_dict"]
  return {k: v.detach().float().numpy() if v.is_floating_point() else v.numpy()
          for k, v in obj.items() if hasattr(v, "detach")}


def read_checkpoint(path: str) -> dict[str, np.ndarray]:
  """Reads a checkpoint file/directory/hub id into a flat {name: np.ndarray}."""
  if not path:
    raise ValueError("empty checkpoint path")
  path = os.path.expanduser(path)
  if _looks_like_hub_id(path):
    path = _hub_snapshot(path)
  remote = "://" in path
  if not remote and not os.path.exists(path):
    raise FileNotFoundError(f"Checkpoint {path!r} does not exist (check config.model.*.init).")
  if not remote and os.path.isdir(path):
    for name in ("model.safetensors", "pytorch_model.bin"):
      if os.path.exists(os.path.join(path, name)):
        return read_checkpoint(os.path.join(path, name))
    npz = [f for f in os.listdir(path) if f.endswith(".npz")]
    if len(npz) == 1:
      return read_checkpoint(os.path.join(path, npz[0]))
    raise FileNotFoundError(
        f"No model.safetensors, pytorch_model.bin or single .npz in directory {path!r}.")
  try:
    if path.endswith(".safetensors"):
      return dict(safetensors.numpy.load(_read_bytes(path)) if remote
                  else safetensors.numpy.load_file(path))
    if path.endswith(".npz"):
      src = io.BytesIO(_read_bytes(path)) if remote else path
      with np.load(src, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
    if path.endswith((".bin", ".pt", ".pth")):
      try:
        import torch  # pylint: disable=g-import-not-at-top  (optional: .bin only)
      except ImportError as e:
        raise ImportError(
            f"Reading {path!r} needs torch. Install it, or convert the checkpoint to "
            ".safetensors (which needs no torch).") from e
      src = io.BytesIO(_read_bytes(path)) if remote else path
      return torch_to_numpy(torch.load(src, map_location="cpu", weights_only=True))
  except (ImportError, FileNotFoundError):
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise ValueError(f"Could not read checkpoint {path!r}: {type(e).__name__}: {e}. "
                     "Is the file complete (re-download it)?") from e
  raise ValueError(
      f"Unsupported checkpoint file {path!r}: use .safetensors, .npz, .bin/.pt or a directory.")
