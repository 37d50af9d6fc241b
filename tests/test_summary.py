"""``main.py --mode=summary``: parameter overview and FLOPs."""

import re
import subprocess
import sys

from focusclip_jax import summary
from tests.helpers import REPO
from tests.helpers import tiny


def test_paper_model_summary_from_the_command_line():
  r = subprocess.run([sys.executable, "main.py", "--config=configs/vitb16.py", "--mode=summary"],
                     capture_output=True, text=True, cwd=REPO, timeout=600)
  assert r.returncode == 0, r.stderr[-3000:]
  counts = dict(re.findall(r"^  (\w+)\s+([\d,]+)  \(", r.stdout, re.M))
  counts = {k: int(v.replace(",", "")) for k, v in counts.items()}
  assert counts["image_tower"] == 85_798_656  # ViT-B/16 (= transformers ViTModel, no pooler)
  assert counts["text_tower"] == 108_891_648  # BERT-base (= transformers BertModel, no pooler)
  assert counts["image_proj"] == counts["text_proj"] == 768 * 512 + 512
  assert counts["alpha"] == 1
  assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
  flops = {k: float(v) for k, v in re.findall(r"^  (\w+)\s+([\d.]+) GFLOP", r.stdout, re.M)}
  # ViT-B/16 at 224 px is ~17.6 GMACs = ~35 GFLOPs; BERT-base at 512 tokens ~2*86M*512+attn.
  assert 33 < flops["encode_image"] < 38
  assert 90 < flops["encode_text"] < 105
  assert abs(flops["train_forward"] - (2 * flops["encode_image"] + flops["encode_text"])) < 2


def test_training_forward_is_two_image_passes_plus_text():
  config = tiny()
  f = summary.forward_flops(config)
  assert f["encode_image"] > 0 and f["encode_text"] > 0
  # Training forward = 2 image passes (raw + highlighted) + 1 text pass, up to elementwise ops.
  assert abs(f["train_forward"] - 2 * f["encode_image"] - f["encode_text"]) < (
      0.05 * f["train_forward"])


def test_clip_baseline_summary_has_no_alpha():
  text = summary.summarize(tiny(**{"model.focus.enabled": False,
                                   "loss.terms": (("image", "text", 1.0),)}), with_flops=False)
  assert "alpha" not in text and "CLIP baseline" in text
