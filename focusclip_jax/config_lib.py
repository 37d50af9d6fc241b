"""The configuration schema, its defaults (= the paper recipe) and its validation.

``base_config()`` returns every field the code reads, each set to the reference recipe of
FocusCLIP (docs/method.md §9) unless noted; ``configs/*.py`` start from it and change what
they need. Every deviation from the reference is a field here whose default is the
reference behaviour. ``validate(config)`` rejects unknown keys (with a did-you-mean hint),
missing keys and invalid values with a message that names the fix.
"""

from __future__ import annotations

import difflib
import importlib
import math
import re
from typing import Any, Callable

import ml_collections

from focusclip_jax import losses
from focusclip_jax import optimizer
from focusclip_jax import plugins
from focusclip_jax import train_step
from focusclip_jax.models import bert
from focusclip_jax.models import convnet
from focusclip_jax.models import factory
from focusclip_jax.models import flash_attention
from focusclip_jax.models import focusclip
from focusclip_jax.models import layers
from focusclip_jax.models import pretrained
from focusclip_jax.models import vit

# Public location of the paper's image weights (timm 0.6.13 'vit_base_patch16_224': Google
# AugReg, ImageNet-21k pretrain -> ImageNet-1k fine-tune at 224 px).
AUGREG_B16_224 = (
    "gs://vit_models/augreg/B_16-i21k-300ep-lr_0.001-aug_medium1-wd_0.1-do_0.0-sd_0.0"
    "--imagenet2012-steps_20k-lr_0.01-res_224.npz")

EMBEDDINGS = ("image", "focus", "text")
PAPER_LOSS_TERMS = (("focus", "image", 1.0), ("focus", "text", 1.0), ("image", "text", 1.0))
V3_LOSS_TERMS = (("image", "text", 1.0), ("focus", "text", 1.0))
CLIP_LOSS_TERMS = (("image", "text", 1.0),)

# Logical axis -> mesh axes. Parameters: FSDP shards the width ('embed') of every weight
# over 'fsdp'; activations: the batch over ('data', 'fsdp').
DEFAULT_LOGICAL_AXIS_RULES = (
    ("act_batch", ("data", "fsdp")),
    ("act_seq", None),
    ("act_embed", None),
    ("embed", "fsdp"),
    ("mlp", None),
    ("heads", None),
    ("kv", None),
    ("vocab", None),
    ("proj", None),
    ("layers", None),
)


def base_config() -> ml_collections.ConfigDict:
  """The complete schema with the FocusCLIP paper recipe (ViT-B/16 + BERT-base) as values."""
  c = ml_collections.ConfigDict()
  c.seed = 42
  # Extra XLA flags ("--name=value ..."), added to $XLA_FLAGS before JAX starts its backend
  # (main.py, the demo and the experiment do this: distributed.apply_xla_flags). For backend
  # settings that change speed, e.g. the demo's CPU convolutions (configs/demo.py).
  c.xla_flags = ""

  # ---------------------------------------------------------------- model
  c.model = ml_collections.ConfigDict()
  c.model.embed_dim = 512
  c.model.dtype = "float32"  # compute dtype: float32 (paper) | bfloat16
  c.model.param_dtype = "float32"
  c.model.remat_policy = "none"  # models/layers.py REMAT_POLICIES (none: no rematerialisation)
  c.model.scan_layers = False  # nn.scan over blocks (faster compiles, same numbers)
  # Random bits per dropout decision: 16 = one 32-bit word decides two elements (half the
  # threefry work; drop probability quantised to 1/65536, 0.1 -> 0.1000061; step times in
  # BENCHMARKS.md) | 32 = flax's nn.Dropout (a float uniform per element).
  c.model.dropout_bits = 16
  # Precision of every dot in the towers and the loss: default (the platform's: a single
  # bfloat16 pass for float32 on TPU, TF32 on GPUs where XLA enables it, float32 on CPU; the
  # reference's PyTorch fp32 is exact float32, so on TPU/GPU this is a deviation) | high |
  # highest (exact float32 everywhere, slower on TPU/GPU). models/factory.py matmul_precision.
  c.model.matmul_precision = "default"

  c.model.image = ml_collections.ConfigDict()
  c.model.image.variant = "B/16"  # tiny/N | Ti/16 | S/16 | B/16 | L/14 | H/14; convnet-<tiny|mini|small>
  c.model.image.image_size = 224
  c.model.image.pool = "token"  # token (reference: cls after final LN) | gap
  c.model.image.input_norm = "none"  # none (reference: [0,1] pixels) | minus_one_one
  c.model.image.dropout = 0.0
  c.model.image.attention_dropout = 0.0
  # Pretrained weights: '' = random init; a .npz (AugReg / big_vision), .safetensors, .bin,
  # a Hugging Face model directory, or gs:// path. Format: auto | hf | timm | augreg.
  c.model.image.init = AUGREG_B16_224
  c.model.image.init_format = "auto"

  c.model.text = ml_collections.ConfigDict()
  c.model.text.variant = "bert-base"  # tiny | minilm-l6 | bert-base | bert-large
  c.model.text.vocab_size = 30522
  c.model.text.max_positions = 512
  c.model.text.max_length = 512  # tokens per text (pad + truncate); reference: 512
  c.model.text.pooling = "mean_all"  # mean_all (reference, pads included) | mean_masked | cls
  c.model.text.dropout = 0.1  # BERT's own dropout, active in the reference's training
  c.model.text.attention_dropout = 0.1
  # Exact attention over the real tokens: a batch's text attention uses the keys of the first
  # K positions, K = the smallest of these >= its longest real text (e.g. (128, 256, 384,
  # 512); one compiled program each). () = all max_length positions (the reference).
  # focusclip_jax/text_buckets.py.
  c.model.text.attention_buckets = ()
  # 'xla' (the reference's attention, with dropout) | 'pallas_tpu': the fused Pallas
  # flash-attention kernel on TPU, no attention maps in HBM; needs attention_dropout = 0 and
  # max_length / buckets that are multiples of 128 (focusclip_jax/models/flash_attention.py).
  c.model.text.attention_kernel = "xla"
  # Weights: '' = random; a Hugging Face hub id, model directory or checkpoint file.
  c.model.text.init = "bert-base-uncased"
  # Tokenizer: a Hugging Face hub id or a local directory with tokenizer.json / vocab.txt.
  c.model.text.tokenizer = "bert-base-uncased"

  c.model.focus = ml_collections.ConfigDict()
  c.model.focus.enabled = True  # False = the CLIP baseline (no alpha, no highlighted view)
  c.model.focus.shared_encoder = True  # reference: the highlighted view reuses ViT + projection
  c.model.focus.fused_pass = True  # shared encoder: raw + highlighted as one 2B batch (fast)
  c.model.focus.alpha_init = 0.5
  c.model.focus.alpha_param = "unconstrained"  # unconstrained (reference) | sigmoid | clipped
  # subject (the method) | other_example (control: the next example's heatmap, models/focusclip.py)
  c.model.focus.heatmap_source = "subject"

  # ---------------------------------------------------------------- loss
  c.loss = ml_collections.ConfigDict()
  # ntxent: pytorch-metric-learning SelfSupervisedLoss(NTXentLoss) (reference);
  # clip: InfoNCE with a learned logit scale; siglip: sigmoid loss with learned scale + bias.
  c.loss.type = "ntxent"
  c.loss.temperature = 0.5  # ntxent temperature (reference: 0.5, fixed)
  c.loss.learn_temperature = False
  c.loss.logit_scale_init = math.log(1 / 0.07)  # clip / siglip
  c.loss.logit_scale_max = math.log(100.0)
  c.loss.logit_bias_init = -10.0  # siglip
  # (embedding, embedding, weight) over {image, focus, text}. Reference: three terms.
  c.loss.terms = PAPER_LOSS_TERMS

  # ---------------------------------------------------------------- optimizer
  c.optim = ml_collections.ConfigDict()
  c.optim.name = "sgd"  # sgd (reference) | adamw
  c.optim.learning_rate = 5e-4
  c.optim.momentum = 0.9  # sgd
  c.optim.nesterov = False  # sgd
  c.optim.b1 = 0.9  # adamw
  c.optim.b2 = 0.999  # adamw
  c.optim.eps = 1e-8  # adamw
  c.optim.weight_decay = 0.0  # decoupled; masked off norms, biases, alpha and embeddings
  c.optim.schedule = "constant"  # constant (reference) | warmup_cosine
  c.optim.warmup_steps = 0
  c.optim.end_lr_factor = 0.0  # warmup_cosine: final lr = factor * learning_rate
  c.optim.grad_clip_norm = 1.0  # global L2 norm; <= 0 disables
  # Regexes over '/'-joined parameter paths, e.g. ('text_tower/.*',) freezes the text tower.
  c.optim.frozen = ()
  # ((regex, multiplier), ...): per-group learning-rate multipliers, first match wins.
  c.optim.lr_multipliers = ()

  # ---------------------------------------------------------------- training
  c.train = ml_collections.ConfigDict()
  c.train.batch_size = 32  # global batch
  c.train.num_epochs = 64
  c.train.num_steps = -1  # -1: derived from num_epochs and the dataset size
  c.train.log_every_steps = 50
  c.train.checkpoint_every_steps = 1000
  c.train.keep_checkpoints = 3  # latest K ...
  c.train.keep_every_steps = 0  # ... plus every M-th step (0: none)
  # A replicated array is saved in slices by all its replicas only if each slice has at least
  # this many bytes; smaller ones are written whole by one replica (focusclip_jax/checkpointing.py).
  c.train.checkpoint_min_replica_slice_bytes = 1 << 20
  c.train.eval_every_steps = 0  # 0: evaluate at the end only
  c.train.max_nonfinite_steps = 5  # stop after this many non-finite steps in a row
  c.train.profile_steps = 0  # steps to trace with the profiler after warm-up (0: off)
  # PRNG for dropout: threefry2x32 (bit-identical on any mesh) | rbg | unsafe_rbg (cheaper to
  # compile and run; values may depend on the sharding).
  c.train.dropout_rng = "threefry2x32"
  # A locked text tower (every text_tower parameter in optim.frozen, text dropout 0) gives each
  # text the same output at every step: True computes it once per distinct text, on the host's
  # devices, and the step reads it instead of running the tower (focusclip_jax/text_cache.py;
  # single process). False: the tower runs in every step (the reference).
  c.train.cache_text_features = False
  # > 0: contrastive-correct gradient accumulation (focusclip_jax/grad_cache.py): the global
  # batch runs in micro-batches of this size (a divisor of train.batch_size and a multiple of
  # the number of batch shards) with the same loss and gradients as in one pass, for one more
  # forward pass. 0: one pass (the reference).
  c.train.microbatch_size = 0
  # The loops over the micro-batches unrolled: no memory bound (the compiler may overlap the
  # micro-batches), but XLA:CPU runs convolution gradients inside a loop several times slower
  # (BENCHMARKS.md). False (a lax.scan loop) is what bounds the memory on TPU / GPU.
  c.train.microbatch_unroll = False

  # ---------------------------------------------------------------- data
  c.data = ml_collections.ConfigDict()
  c.data.dataset = "mpii_pose_descriptions"  # a name in focusclip_jax/plugins.py SOURCES
  c.data.root = ""  # dataset 'cub': the CUB_200_2011 folder (birds with bird heatmaps)
  # TFDS config of mpii_pose_descriptions: GPT-4 train descriptions, GPT-3.5-0613 validation,
  # images and heatmaps prepared at 224 px exactly as the reference resizes them.
  c.data.builder_config = "gpt-4-224px"
  c.data.data_dir = ""  # TFDS data_dir ('' = TFDS default)
  c.data.manual_dir = ""  # MPII images + description JSONs (see input_pipeline README)
  c.data.train_split = "train"
  c.data.val_split = "validation"
  # fidelity: the reference's heatmaps (integer arithmetic at the original resolution, then
  # resized with the image) | fast: evaluated at model resolution with float keypoints.
  c.data.heatmap_mode = "fidelity"
  c.data.heatmap_min_sigma = 1.0  # pixels; fixes the reference's zero-width NaN stripe
  # Several descriptions per image (builder config 'all'): first | random (new each epoch).
  c.data.description_choice = "first"
  # squash (reference: resize to S x S ignoring the aspect ratio) | center_crop (shorter side
  # to S, then the central S x S; needs a full-resolution builder config).
  c.data.resize = "squash"
  # Training augmentation (the reference has none): identical random resized crop of image and
  # heatmap; horizontal flip together with swapping 'left' <-> 'right' in the description.
  c.data.augment = ml_collections.ConfigDict()
  c.data.augment.random_resized_crop = False
  c.data.augment.crop_area = (0.5, 1.0)  # fraction of the image area
  c.data.augment.crop_aspect_ratio = (3 / 4, 4 / 3)
  c.data.augment.hflip = False
  c.data.prefetch = 2
  c.data.synthetic_examples = 256  # dataset 'synthetic': random examples per train split

  # ---------------------------------------------------------------- zero-shot evaluation
  c.eval = ml_collections.ConfigDict()
  # Evaluators run every train.eval_every_steps (and at the end): val_loss = the training
  # objective on the validation split; zeroshot = config.eval.tasks; retrieval = MPII
  # validation image<->text recall@k.
  c.eval.evaluators = ("val_loss",)
  c.eval.tasks = (
      "kinetics400", "stanford40", "emotic_age", "lagenda_body", "lagenda_face",
      "utkface", "emotic_emotion", "fer2013", "ferplus", "fairface_race")
  c.eval.data_root = ""  # one folder per dataset under it, in its native layout
  c.eval.batch_size = 64
  c.eval.paper_protocol = False  # True: the reference's Stanford40 label bug, LAGENDA and EMOTIC filters (docs/method.md §10.1)
  c.eval.fixed_grammar = False  # True: "an adult person" instead of "a adult person"
  # CuPL-style class prompts ({class: [sentences]} or {dataset: {class: [...]}}) replacing
  # the templates, e.g. LLM-written class descriptions ('' = the paper's templates).
  c.eval.prompts_file = ""
  c.eval.checkpoint = ""  # --mode=eval: a step dir or export ('' = latest in --workdir)
  c.eval.retrieval = True  # --mode=eval: also MPII validation image<->text retrieval
  c.eval.max_examples = 0  # per dataset; 0 = all (a smaller number for quick looks)
  # --mode=eval (and the 'linear_probe' evaluator): a linear probe on frozen image embeddings
  # of each task's train split, scored on its test split (focusclip_jax/linear_probe.py;
  # splits: input_pipeline/eval_datasets PROBE_SPLITS). The L2 penalty is chosen from the
  # grid on a held-out fraction of train.
  c.eval.linear_probe = False
  c.eval.linear_probe_l2_grid = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
  c.eval.linear_probe_val_fraction = 0.2
  c.eval.num_plot_examples = 16  # images in each examples_<dataset>.png

  # ---------------------------------------------------------------- devices
  c.sharding = ml_collections.ConfigDict()
  # ((axis, size), ...), size -1 = all remaining devices.
  c.sharding.mesh = (("data", -1), ("fsdp", 1))
  c.sharding.logical_axis_rules = DEFAULT_LOGICAL_AXIS_RULES
  return c


# ---------------------------------------------------------------------------- validation

class ConfigError(ValueError):
  """A configuration that cannot run. The message says which field and how to fix it."""


def _flat_keys(cfg, prefix=""):
  out = {}
  for k, v in cfg.items():
    path = f"{prefix}{k}"
    if isinstance(v, ml_collections.ConfigDict):
      out.update(_flat_keys(v, path + "."))
    else:
      out[path] = v
  return out


def _choice(*choices):
  def check(v):
    return None if v in choices else f"must be one of {list(choices)}"
  return check


def _choice_in(target: str):
  """A choice list owned by a data module, imported by name when a config is validated (the
  plug-in rule), so that loading a config does not import TensorFlow."""
  module, _, attribute = target.partition(":")

  def check(v):
    choices = getattr(importlib.import_module(module), attribute)
    return None if v in choices else f"must be one of {list(choices)}"
  return check


def _positive(v):
  return None if isinstance(v, (int, float)) and v > 0 else "must be > 0"


def _non_negative(v):
  return None if isinstance(v, (int, float)) and v >= 0 else "must be >= 0"


# Optimizer and loss values end up as float32 on device: 1e39 is finite in Python, Inf there.
_FLOAT32_MAX = 3.4028234663852886e38


def _is_finite_number(v) -> bool:
  return (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
          and abs(v) <= _FLOAT32_MAX)


def _finite(v):
  return None if _is_finite_number(v) else "must be a finite number (float32)"


def _finite_positive(v):
  return None if _is_finite_number(v) and v > 0 else "must be a finite number > 0"


def _finite_non_negative(v):
  return None if _is_finite_number(v) and v >= 0 else "must be a finite number >= 0"


def _in_0_1(v):  # rates: momentum, Adam betas, dropout
  return None if _is_finite_number(v) and 0 <= v < 1 else "must be in [0, 1)"


def _positive_numbers(v) -> str | None:
  if not isinstance(v, (tuple, list)) or not v or not all(
      _is_finite_number(x) and x > 0 for x in v):
    return "must be a non-empty tuple of positive numbers"
  return None


def _open_unit_interval(v) -> str | None:
  return None if _is_finite_number(v) and 0 < v < 1 else "must be in (0, 1)"


def _positive_ints(v) -> str | None:
  if not isinstance(v, (tuple, list)) or not all(
      isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
    return "must be a tuple of positive token counts, e.g. (128, 256, 384, 512), or ()"
  return None


def _non_negative_int(v):
  ok = isinstance(v, int) and not isinstance(v, bool) and v >= 0
  return None if ok else "must be an int >= 0"


def _range_pair(lo, hi):
  def check(v):
    if len(v) != 2 or not lo < v[0] <= v[1] <= hi:
      return f"must be (min, max) with {lo} < min <= max <= {hi}"
    return None
  return check


def _image_stride(variant) -> int:
  """Pixels per output token of an image tower variant (ViT patch / ConvNet downsampling)."""
  if isinstance(variant, str) and convnet.is_convnet(variant):
    return 2**len(convnet.parse_variant(variant)["channels"])
  return vit.parse_variant(variant)["patch_size"]


def _image_variant(v):
  try:
    _image_stride(v)
  except ValueError as e:
    return str(e)
  return None


def _bert_variant(v):
  return None if v in bert.BERT_SIZES else f"must be one of {list(bert.BERT_SIZES)}"


def _plugin(table):
  """A name in a plugins.py table, read when validating (a plug-in added at run time counts)."""
  def check(v):
    return None if v in table else f"must be one of {sorted(table)}"
  return check


def _plugins(table):
  def check(v):
    unknown = [x for x in v if x not in table]
    return f"unknown {unknown}; known: {sorted(table)}" if unknown else None
  return check


def _loss_terms(v):
  if not v:
    return "needs at least one (embedding, embedding, weight) term"
  for t in v:
    if (len(t) != 3 or t[0] not in EMBEDDINGS or t[1] not in EMBEDDINGS or t[0] == t[1]
        or not isinstance(t[2], (int, float))):
      return (f"each term must be (a, b, weight) with a != b in {list(EMBEDDINGS)}; got {t!r}")
  return None


def _mesh(v):
  names = [a for a, _ in v]
  if len(set(names)) != len(names):
    return "axis names must be unique"
  if sum(1 for _, n in v if n == -1) > 1:
    return "at most one axis may have size -1"
  if any((not isinstance(n, int)) or (n < 1 and n != -1) for _, n in v):
    return "sizes must be positive ints or -1"
  return None


def _xla_flags(v):
  if not isinstance(v, str) or any(not f.startswith("--") for f in v.split()):
    return "must be a string of --name=value flags separated by spaces"
  return None


def _regexes(v):
  for r in v:
    try:
      re.compile(r)
    except re.error as e:
      return f"invalid regex {r!r}: {e}"
  return None


def _lr_multipliers(v):
  for item in v:
    if len(item) != 2 or not isinstance(item[1], (int, float)):
      return f"items must be (regex, multiplier); got {item!r}"
    if not _is_finite_number(item[1]) or item[1] < 0:
      return f"multipliers must be finite numbers >= 0; got {item!r}"
  return _regexes([r for r, _ in v])


_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "model.embed_dim": _positive,
    "model.dtype": _choice(*factory.DTYPES),
    "model.param_dtype": _choice(*factory.PARAM_DTYPES),
    "model.remat_policy": _choice(*layers.REMAT_POLICIES),
    "model.dropout_bits": _choice(*layers.DROPOUT_BITS),
    "model.matmul_precision": _choice(*factory.MATMUL_PRECISIONS),
    "model.image.variant": _image_variant,
    "model.image.image_size": _positive,
    "model.image.pool": _choice(*vit.POOLS),
    "model.image.input_norm": _choice(*focusclip.INPUT_NORMS),
    "model.image.dropout": _in_0_1,
    "model.image.attention_dropout": _in_0_1,
    "model.image.init_format": _choice(*pretrained.INIT_FORMATS),
    "model.text.variant": _bert_variant,
    "model.text.vocab_size": _positive,
    "model.text.max_positions": _positive,
    "model.text.max_length": _positive,
    "model.text.pooling": _choice(*bert.POOLINGS),
    "model.text.dropout": _in_0_1,
    "model.text.attention_dropout": _in_0_1,
    "model.text.attention_buckets": _positive_ints,
    "model.text.attention_kernel": _choice(*flash_attention.KERNELS),
    "model.focus.alpha_param": _choice(*focusclip.ALPHA_PARAMS),
    "model.focus.heatmap_source": _choice(*focusclip.HEATMAP_SOURCES),
    "loss.type": _choice(*losses.LOSS_TYPES),
    "loss.temperature": _finite_positive,
    "loss.logit_scale_init": _finite,
    "loss.logit_scale_max": _finite,
    "loss.logit_bias_init": _finite,
    "loss.terms": _loss_terms,
    "optim.name": _choice(*optimizer.OPTIMIZERS),
    "optim.learning_rate": _finite_positive,
    "optim.momentum": _in_0_1,
    "optim.b1": _in_0_1,
    "optim.b2": _in_0_1,
    "optim.eps": _finite_positive,  # Adam divides by sqrt(v) + eps; v is 0 for unused rows
    "optim.weight_decay": _finite_non_negative,
    "optim.schedule": _choice(*optimizer.SCHEDULES),
    "optim.warmup_steps": _non_negative_int,
    "optim.end_lr_factor": _finite_non_negative,
    # <= 0 disables clipping; NaN would disable it silently (NaN > 0 is False).
    "optim.grad_clip_norm": _finite,
    "optim.frozen": _regexes,
    "optim.lr_multipliers": _lr_multipliers,
    "train.batch_size": _positive,
    "train.num_epochs": _non_negative,
    "train.log_every_steps": _positive,
    "train.checkpoint_every_steps": _positive,
    "train.keep_checkpoints": _positive,
    "train.checkpoint_min_replica_slice_bytes": _non_negative_int,
    "train.max_nonfinite_steps": _positive,
    "train.dropout_rng": _choice(*train_step.DROPOUT_RNG_IMPLS),
    "train.microbatch_size": _non_negative_int,
    "train.microbatch_unroll": _choice(True, False),
    "data.dataset": _plugin(plugins.SOURCES),
    "data.heatmap_mode": _choice_in("input_pipeline.heatmaps:MODES"),
    "data.synthetic_examples": _positive,
    "data.heatmap_min_sigma": _non_negative,
    "data.description_choice": _choice_in("input_pipeline.mpii:DESCRIPTION_CHOICES"),
    "data.resize": _choice_in("input_pipeline.mpii:RESIZE_MODES"),
    "data.augment.crop_area": _range_pair(0.0, 1.0),
    "data.augment.crop_aspect_ratio": _range_pair(0.0, float("inf")),
    "eval.evaluators": _plugins(plugins.EVALUATORS),
    "eval.tasks": _plugins(plugins.EVAL_DATASETS),
    "eval.batch_size": _positive,
    "eval.max_examples": _non_negative,
    "eval.linear_probe_l2_grid": _positive_numbers,
    "eval.linear_probe_val_fraction": _open_unit_interval,
    "eval.num_plot_examples": _non_negative,
    "sharding.mesh": _mesh,
    "xla_flags": _xla_flags,
}


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Checks keys against ``base_config()`` and values against their rules; returns config."""
  known = _flat_keys(base_config())
  given = _flat_keys(config)
  problems = []
  for key in sorted(set(given) - set(known)):
    hint = difflib.get_close_matches(key, known, n=1)
    problems.append(
        f"unknown key '{key}'" + (f" (did you mean '{hint[0]}'?)" if hint else ""))
  for key in sorted(set(known) - set(given)):
    problems.append(f"missing key '{key}' (start the config from config_lib.base_config())")
  for key, check in _CHECKS.items():
    if key in given:
      msg = check(given[key])
      if msg:
        problems.append(f"config.{key} = {given[key]!r}: {msg}")
  # Cross-field rules.
  if not problems:
    patch = _image_stride(config.model.image.variant)
    if config.model.image.image_size % patch:
      problems.append(
          f"config.model.image.image_size = {config.model.image.image_size} is not a multiple of "
          f"the patch size {patch} of variant {config.model.image.variant!r}")
    if config.model.text.max_length > config.model.text.max_positions:
      problems.append(
          f"config.model.text.max_length = {config.model.text.max_length} exceeds "
          f"config.model.text.max_positions = {config.model.text.max_positions}")
    if config.model.text.attention_kernel == "pallas_tpu":
      text = config.model.text
      if text.attention_dropout:
        problems.append(
            f"config.model.text.attention_kernel = 'pallas_tpu' has no attention dropout: set "
            f"config.model.text.attention_dropout = 0 (now {text.attention_dropout}; the "
            "reference's 0.1 needs attention_kernel = 'xla')")
      tile = flash_attention.TILE
      odd = [n for n in (text.max_length, *text.attention_buckets) if n % tile]
      if odd:
        problems.append(
            f"config.model.text.attention_kernel = 'pallas_tpu' works on {tile}-token tiles: "
            f"config.model.text.max_length and attention_buckets must be multiples of {tile} "
            f"(not {odd})")
    uses_focus = any("focus" in t[:2] for t in config.loss.terms)
    if uses_focus and not config.model.focus.enabled:
      problems.append(
          "config.loss.terms use the 'focus' embedding but config.model.focus.enabled is False; "
          f"use config.loss.terms = {CLIP_LOSS_TERMS} for the CLIP baseline")
    if config.train.cache_text_features and (config.model.text.dropout or
                                             config.model.text.attention_dropout):
      problems.append(
          "config.train.cache_text_features needs a deterministic text tower: set "
          "config.model.text.dropout and config.model.text.attention_dropout to 0")
    micro = config.train.microbatch_size
    if micro and config.train.batch_size % micro:
      problems.append(
          f"config.train.microbatch_size = {micro} does not divide config.train.batch_size = "
          f"{config.train.batch_size}")
    dropout = any(config.model[t][k] for t in ("image", "text")
                  for k in ("dropout", "attention_dropout"))
    if micro and dropout and config.train.dropout_rng != "threefry2x32":
      problems.append(
          "config.train.microbatch_size > 0 with dropout needs config.train.dropout_rng = "
          "'threefry2x32' (a micro-batch draws its rows' masks of the whole batch, which rbg "
          "keys cannot do)")
    if config.model.focus.alpha_param == "sigmoid" and not 0 < config.model.focus.alpha_init < 1:
      problems.append("config.model.focus.alpha_init must be in (0, 1) with alpha_param='sigmoid'")
  if problems:
    raise ConfigError("Invalid config:\n  - " + "\n  - ".join(problems))
  return config
