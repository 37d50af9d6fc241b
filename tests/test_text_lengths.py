"""The description token-length report (focusclip_tools/text_lengths.py)."""

import numpy as np

from focusclip_tools import text_lengths


def test_text_length_summary(minilm_dir):
  lengths = text_lengths.token_lengths(["a photo", "word " * 100], minilm_dir)
  assert lengths.tolist() == [4, 102]  # [CLS] a photo [SEP]; 100 words + 2
  s = text_lengths.summarize(np.array([10] * 98 + [100, 300]), coverage=0.99)
  assert s["truncated_fraction"][64] == 0.02 and s["truncated_fraction"][128] == 0.01
  assert s["recommended_max_length"] == 128  # the 99th percentile (100) rounded up to 32s
