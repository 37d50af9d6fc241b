"""Ahead-of-time compile of the real train step for a Cloud TPU topology, on this (CPU) host.

  python benchmarks/aot_compile.py --config=configs/vitb16.py --topology=v5e:2x4 \
      [--batch N] [--find_max_batch] [--json PATH] [--config_override key=value ...]

MaxText's train_compile idea: the TPU compiler in ``libtpu`` (``pip install libtpu==0.0.42.1``,
the version ``jax[tpu]==0.10.2`` pins) compiles for a topology described by
``jax.experimental.topologies.get_topology_desc`` without any TPU attached. The step compiled
is exactly the one ``focusclip_jax/train.py`` runs (``make_train_step`` -> ``jit_train_step``
-> ``compile_train_step`` on ``abstract_state`` / ``abstract_batch``, the mesh from
``sharding.create_mesh(config, devices=topology.devices)``), so the per-chip memory and FLOPs
are those of the run, and a configuration that would not fit fails here as it would on TPU.

Topologies: ``<gen>:<dims>`` with gen in v4 | v5e | v5p | v6e (``v5p`` is libtpu's ``v5``),
e.g. ``v5e:2x4`` (v5litepod-8), ``v4:2x2x1`` (v4-8), ``v5p:2x2x1`` (v5p-8), ``v6e:2x2``; or
the Cloud names ``v5e-8``, ``v4-8`` (v4 / v5p names count TensorCores: 2 per chip),
``v5p-8``, ``v6e-8``, ... v4 and v5p are compiled in megacore mode (one JAX device per chip).

Numbers (all per chip unless said otherwise; from the compiled executable):
  memory: ``compiled.memory_analysis()``: arguments (train state shard + batch shard),
    outputs, temporaries, aliased (outputs written in place of the donated state),
    peak = arguments + outputs + temporaries - aliased, an upper bound: libtpu's own
    ``peak_memory_in_bytes`` (its buffer assignment) is reported too, larger than the sum for
    tiny programs and 5-13% smaller for the paper recipe, where the temporaries reuse
    space the arguments free. fits = the TPU compile succeeded: libtpu fails it with
    RESOURCE_EXHAUSTED when it cannot place the program in the HBM it leaves to programs
    (e.g. 15.75 of a v5e's 16 GiB; its OOM message says so). ``sum_within_hbm`` says whether
    the upper bound (+ generated code) is within the HBM too; it is not required: the paper
    step at batch 224 compiles with libtpu's peak at 14.2 GiB while the sum is 16.3 GiB.
  FLOPs: ``compiled.cost_analysis()['flops']`` of the SPMD-partitioned program = per chip;
    total = per chip x chips (replicated work, e.g. the optimizer update of replicated
    parameters, is counted on every chip), including any recompute the compiler adds.
  --find_max_batch: the largest global batch (a multiple of the batch-axes' device count)
    that fits, growing from --batch and then narrowing the bracket by interpolation and
    bisection (benchmarks/max_batch.py; bounded by --max_compiles and --max_seconds). --json
    is rewritten after every compile, and --resume_json continues from it. Near the limit the TPU
    compiler rematerialises activations to fit (peak memory flattens out and FLOPs per
    example rise), so the largest batch that fits is not the most efficient one: compare
    FLOPs per example.

A batch that does not fit fails early (the compiler stops at RESOURCE_EXHAUSTED), so the
search spends most of its time on the batches that fit; compile times are in BENCHMARKS.md.
``--config_override model.scan_layers=True`` compiles faster but is not a proxy:
cost_analysis() counts the scanned layer loop once (FLOPs far too low) and the scanned program
keeps other buffers (higher per-chip temporaries), so fit checks should compile the
configuration you run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import pathlib
import re
import sys
import time

# The host platform traces; the TPU compiler is loaded from libtpu by the topology. Without
# JAX_PLATFORMS=cpu, JAX would also try (and fail, noisily) to start a TPU runtime here.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # no GCE metadata queries off Cloud TPU
# libtpu takes /tmp/libtpu_lockfile for the process's lifetime; a second process (another
# compile, a pytest-xdist worker) would fail with "ABORTED: ... libtpu multi-process lockfile".
# Compile-only topologies open no TPU, so several processes may load libtpu at once.
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.append(str(REPO / "benchmarks"))  # roofline.py (appended: benchmarks/ holds an
# input_pipeline.py that must not shadow the package)

import jax  # noqa: E402  pylint: disable=wrong-import-position

import hlo_bytes  # noqa: E402  pylint: disable=wrong-import-position
from max_batch import GIB  # noqa: E402  pylint: disable=wrong-import-position
from max_batch import find_max_batch  # noqa: E402  pylint: disable=wrong-import-position
from max_batch import oom_numbers  # noqa: E402  pylint: disable=wrong-import-position
import roofline  # noqa: E402  pylint: disable=wrong-import-position
from focusclip_jax import config_files  # noqa: E402  pylint: disable=wrong-import-position
from focusclip_jax import config_lib  # noqa: E402  pylint: disable=wrong-import-position
from focusclip_jax import models  # noqa: E402  pylint: disable=wrong-import-position
from focusclip_jax import optimizer  # noqa: E402  pylint: disable=wrong-import-position
from focusclip_jax import sharding as sharding_lib  # noqa: E402  pylint: disable=C0413
from focusclip_jax import text_buckets  # noqa: E402  pylint: disable=wrong-import-position
from focusclip_jax import train_state  # noqa: E402  pylint: disable=wrong-import-position
from focusclip_jax import train_step as train_step_lib  # noqa: E402  pylint: disable=C0413

LIBTPU_PIN = "libtpu==0.0.42.1"

# gen -> (libtpu topology prefix, chip_config_name, HBM GiB per chip, peak bf16 TFLOP/s per
# chip (public spec sheets), 'cores' if Cloud names count TensorCores (2 per chip) else 'chips')
CHIPS = {
    "v4": ("v4", "megacore", 32, roofline.CHIP_SPECS["v4"][0] / 1e12, "cores"),
    "v5e": ("v5e", "default", 16, roofline.CHIP_SPECS["v5e"][0] / 1e12, "chips"),
    "v5p": ("v5", "megacore", 95, roofline.CHIP_SPECS["v5p"][0] / 1e12, "cores"),
    "v6e": ("v6e", "default", 32, roofline.CHIP_SPECS["v6e"][0] / 1e12, "chips"),
}
_ALIASES = {"v5": "v5p", "v5litepod": "v5e", "v5lite": "v5e", "v6": "v6e"}
# Chips -> slice shape for the Cloud names (v5e-8, v4-16, ...).
_SHAPES_2D = {1: (1, 1), 4: (2, 2), 8: (2, 4), 16: (4, 4), 32: (4, 8), 64: (8, 8),
              128: (8, 16), 256: (16, 16)}
_SHAPES_3D = {4: (2, 2, 1), 8: (2, 2, 2), 16: (2, 2, 4), 32: (2, 4, 4), 64: (4, 4, 4),
              128: (4, 4, 8), 256: (4, 8, 8), 512: (8, 8, 8)}


class Topology:
  """A resolved topology: generation, libtpu name, chip count and per-chip HBM."""

  def __init__(self, name: str):
    self.requested = name
    m = re.fullmatch(r"\s*([a-z0-9]+)\s*([:-])\s*([0-9x]+)\s*", name.lower())
    if not m:
      raise ValueError(f"--topology {name!r}: use <gen>:<dims> (e.g. v5e:2x4, v4:2x2x1) or a "
                       f"Cloud name (e.g. v5e-8, v4-8); gen in {sorted(CHIPS)}")
    gen, sep, rest = m.groups()
    gen = _ALIASES.get(gen, gen)
    if gen not in CHIPS:
      raise ValueError(f"--topology {name!r}: unknown TPU generation {gen!r}; one of "
                       f"{sorted(CHIPS)}")
    prefix, self.chip_config, self.hbm_gib, self.peak_tflops, unit = CHIPS[gen]
    three_d = gen in ("v4", "v5p")
    if sep == ":":
      dims = tuple(int(d) for d in rest.split("x"))
    else:
      n = int(rest)
      chips = n // 2 if unit == "cores" else n
      table = _SHAPES_3D if three_d else _SHAPES_2D
      if chips not in table:
        raise ValueError(f"--topology {name!r}: no known slice shape for {chips} chips; give "
                         f"the shape, e.g. {gen}:{'x'.join(map(str, next(iter(table.values()))))}")
      dims = table[chips]
    if len(dims) != (3 if three_d else 2):
      raise ValueError(f"--topology {name!r}: {gen} slices are {3 if three_d else 2}-D "
                       f"(e.g. {'v4:2x2x1' if three_d else 'v5e:2x4'})")
    self.gen = gen
    self.dims = dims
    self.num_chips = math.prod(dims)
    self.libtpu_name = f"{prefix}:{'x'.join(map(str, dims))}"
    d3 = dims + (1,) * (3 - len(dims))
    # One host holds at most 2x2x1 chips; smaller slices are one smaller host.
    self.chips_per_host_bounds = tuple(min(a, b) for a, b in zip(d3, (2, 2, 1)))
    self.name = f"{gen}:{'x'.join(map(str, dims))}"

  def devices(self):
    try:
      import libtpu  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
    except ImportError as e:
      raise RuntimeError(
          f"AOT compilation for TPU needs the TPU compiler: pip install {LIBTPU_PIN} (the "
          "libtpu that jax[tpu]==0.10.2 pins; no TPU needed)") from e
    from jax.experimental import topologies  # pylint: disable=g-import-not-at-top
    devices = topologies.get_topology_desc(
        platform="tpu", topology_name=self.libtpu_name, chip_config_name=self.chip_config,
        chips_per_host_bounds=self.chips_per_host_bounds).devices
    if len(devices) != self.num_chips:
      raise RuntimeError(f"topology {self.libtpu_name}: expected {self.num_chips} devices (one "
                         f"per chip), libtpu gave {len(devices)}")
    return devices


# ---------------------------------------------------------------------------- compile

def _is_oom(err: Exception) -> bool:
  msg = str(err)
  return any(s in msg for s in ("RESOURCE_EXHAUSTED", "Ran out of memory", "out of memory",
                                "exceeds the memory", "Exceeded hbm capacity"))


class Compiler:
  """Builds model, optimizer, mesh and the jitted step once; compiles it for given batches."""

  def __init__(self, config, topology: Topology, total_steps: int = 1000,
               text_kv_length: int = 0, hlo_out: str = ""):
    self.config = config
    self.hlo_out = hlo_out  # write each compiled program's HLO text here ({batch} filled in)
    self.topology = topology
    t = time.time()
    self.devices = topology.devices()
    self.mesh = sharding_lib.create_mesh(config, devices=self.devices)
    # text_kv_length > 0: the step of a batch whose texts fit that attention bucket
    # (config.model.text.attention_buckets; focusclip_jax/text_buckets.py).
    self.model = text_buckets.with_kv_length(models.build_model(config), text_kv_length)
    self.tx, lr = optimizer.build(config, train_state.abstract_train_params(self.model, config),
                                  total_steps)
    self.abstract_state = train_state.abstract_state(self.model, config, self.tx, self.mesh)
    self.jitted = train_step_lib.build_step(self.model, config, self.tx, lr, self.mesh)
    self.divisor = sharding_lib.global_batch_size_divisor(self.mesh, config)
    self.setup_s = time.time() - t
    self.num_params = sum(x.size for x in jax.tree.leaves(self.abstract_state.params))

  def compile(self, batch: int) -> dict:
    """Compiles the step for a global batch; returns its numbers (or the OOM error)."""
    if batch % self.divisor:
      raise ValueError(f"global batch {batch} is not a multiple of the {self.divisor} devices "
                       "of the batch mesh axes")
    hbm = self.topology.hbm_gib * GIB
    t = time.time()
    try:
      compiled, mem, cost = train_step_lib.compile_train_step(
          self.jitted, self.model, self.config, self.tx, self.mesh, batch)
    except Exception as e:  # pylint: disable=broad-except
      if not _is_oom(e):
        raise
      msg = str(e)
      out = {"batch": batch, "compile_s": round(time.time() - t, 1), "fits": False,
             "oom_at_compile": True, "error": msg[:2000]}
      out.update(oom_numbers(msg))
      return out
    out = {"batch": batch, "compile_s": round(time.time() - t, 1), "oom_at_compile": False}
    flops = float(cost.get("flops", float("nan")))
    out["flops_per_chip"] = flops
    out["flops_total"] = flops * self.topology.num_chips
    out["flops_per_example"] = flops * self.topology.num_chips / batch
    out["transcendentals_per_chip"] = float(cost.get("transcendentals", float("nan")))
    out["bytes_accessed_per_chip"] = float(cost.get("bytes accessed", float("nan")))
    # Lower bound on the step time: FLOPs at the chip's peak bf16 rate (fp32 matmuls on TPU
    # run at DEFAULT precision = bf16 passes).
    out["step_time_lower_bound_s"] = flops / (self.topology.peak_tflops * 1e12)
    # The roofline (benchmarks/roofline.py): the larger of compute and HBM-traffic time.
    out["roofline"] = roofline.estimate(flops, out["bytes_accessed_per_chip"],
                                        self.topology.gen, cost.get("optimal_seconds"))
    # Where the bytes go: per op category from the optimised HLO (benchmarks/hlo_bytes.py),
    # HBM only (arrays the TPU layout places in VMEM excluded) and all memory spaces.
    hlo = compiled.as_text()
    if self.hlo_out:
      pathlib.Path(self.hlo_out.format(batch=batch)).write_text(hlo)
    by_cat = hlo_bytes.bytes_by_category(hlo)
    out["hbm_bytes_by_category_per_chip"] = by_cat["categories"]
    out["hbm_bytes_per_chip_from_hlo"] = by_cat["total"]
    out["hbm_bytes_by_opcode_per_chip"] = by_cat["by_opcode"]
    out["largest_ops_by_hbm_bytes"] = [
        {"bytes": b, "opcode": op, "category": cat, "op_name": name}
        for b, op, cat, name in by_cat["largest"]]
    every_space = hlo_bytes.bytes_by_category(hlo, hbm_only=False)
    out["bytes_by_category_per_chip_all_memory_spaces"] = every_space["categories"]
    out["bytes_per_chip_all_memory_spaces_from_hlo"] = every_space["total"]
    out["roofline_from_hlo_hbm_bytes"] = roofline.estimate(flops, by_cat["total"],
                                                           self.topology.gen)
    out["matmul_precision"] = self.config.model.matmul_precision
    # cost_analysis() counts a while loop's body once: with nn.scan over the layers the FLOPs
    # are those of one layer per tower (plus the rest), not the step's.
    # So does a gradient-accumulation loop (train.microbatch_size, focusclip_jax/grad_cache.py):
    # one micro-batch's forward and backward are counted, not all of them.
    out["microbatch_size"] = self.config.train.microbatch_size
    # The fused attention kernel (model.text.attention_kernel='pallas_tpu') undercounts too:
    # Pallas's flash attention gives XLA a cost estimate for its forward kernel only, so its
    # backward kernels' FLOPs (~3% of the paper step's) are missing.
    loops = bool(self.config.model.scan_layers) or bool(
        self.config.train.microbatch_size and not self.config.train.microbatch_unroll)
    out["loops"] = loops
    out["fused_attention_kernel"] = self.config.model.text.attention_kernel == "pallas_tpu"
    out["flops_undercounted"] = loops or out["fused_attention_kernel"]
    if mem is None:
      out["fits"] = None
      return out
    m = {k: int(getattr(mem, f"{k}_size_in_bytes")) for k in
         ("argument", "output", "temp", "alias", "generated_code")}
    peak = m["argument"] + m["output"] + m["temp"] - m["alias"]
    m["peak"] = peak
    m["libtpu_peak"] = int(getattr(mem, "peak_memory_in_bytes", 0) or 0)
    out["memory_bytes_per_chip"] = m
    out["memory_gib_per_chip"] = {k: round(v / GIB, 3) for k, v in m.items()}
    out["hbm_gib_per_chip"] = self.topology.hbm_gib
    out["hbm_used_fraction"] = round((peak + m["generated_code"]) / hbm, 4)
    out["fits"] = True  # libtpu placed it in HBM (else RESOURCE_EXHAUSTED, above)
    out["sum_within_hbm"] = peak + m["generated_code"] <= hbm
    return out


def _line(r: dict) -> str:
  if r.get("oom_at_compile"):
    first = r["error"].strip().splitlines()[0][:200]
    return f"  batch {r['batch']:6d}: DOES NOT FIT (TPU compiler: {first}) [{r['compile_s']}s]"
  g = r.get("memory_gib_per_chip", {})
  nan = float("nan")
  return (f"  batch {r['batch']:6d}: {'fits' if r['fits'] else 'DOES NOT FIT'}  peak "
          f"{g.get('peak', nan):.2f} GiB/chip ({100 * r.get('hbm_used_fraction', nan):.0f}% "
          f"of HBM)  {r.get('flops_per_chip', nan):.4g} FLOPs/chip, "
          f"{r.get('flops_per_example', nan):.4g}/example  [{r.get('compile_s', nan)}s compile]")


def report(r: dict, topo: Topology) -> str:
  if r.get("oom_at_compile"):
    return _line(r) + "\n" + r["error"][:1500]
  g = r["memory_gib_per_chip"]
  per_chip = r["batch"] / topo.num_chips
  lines = [
      f"global batch {r['batch']}  ({per_chip:g} per chip), compile {r['compile_s']} s",
      "per-chip memory (GiB):",
      f"  arguments   {g['argument']:8.3f}   (train state shard + batch shard)",
      f"  outputs     {g['output']:8.3f}",
      f"  temporaries {g['temp']:8.3f}   (activations, gradients, workspace)",
      f"  aliased    -{g['alias']:8.3f}   (outputs written over the donated state)",
      f"  peak        {g['peak']:8.3f}   = arguments + outputs + temporaries - aliased",
      f"  code        {g['generated_code']:8.3f}",
      f"  libtpu peak {g['libtpu_peak']:8.3f}   (memory_analysis().peak_memory_in_bytes)",
      f"  HBM         {topo.hbm_gib:8.3f}   -> {'FITS' if r['fits'] else 'DOES NOT FIT'} "
      f"(libtpu placed it; the sum + code is {100 * r['hbm_used_fraction']:.1f}% of HBM)",
      f"FLOPs/step: {r['flops_total']:.4g} total = {r['flops_per_chip']:.4g} per chip x "
      f"{topo.num_chips} chips ({r['flops_per_example']:.4g} per example)",
      f"step time >= {1e3 * r['step_time_lower_bound_s']:.1f} ms at the {topo.peak_tflops} "
      "TFLOP/s bf16 peak (100% MFU)",
  ]
  rl = r.get("roofline")
  if rl:
    lines.append(
        f"roofline (a lower bound, not a measurement): {1e3 * rl['roofline_s']:.1f} ms/step, "
        f"{rl['bound']}-bound (compute {1e3 * rl['compute_s']:.1f} ms, HBM traffic "
        f"{r['bytes_accessed_per_chip']:.3g} B/chip = {1e3 * rl['memory_s']:.1f} ms at "
        f"{rl['hbm_bytes_per_s'] / 1e9:.0f} GB/s); {rl['projected_steps']} steps (the paper's "
        f"run) >= {rl['projected_training_s'] / 60:.1f} min; libtpu optimal_seconds "
        f"{'n/a' if rl['optimal_s'] is None else format(rl['optimal_s'] * 1e3, '.1f') + ' ms'}; "
        f"matmul precision {r.get('matmul_precision')}")
  cats = r.get("hbm_bytes_by_category_per_chip")
  if cats:
    total = r["hbm_bytes_per_chip_from_hlo"]
    every = r["bytes_by_category_per_chip_all_memory_spaces"]
    hrl = r["roofline_from_hlo_hbm_bytes"]
    lines.append(
        f"HBM traffic by op category (per chip, read off the optimised HLO: "
        f"benchmarks/hlo_bytes.py): {total:.3g} B in HBM -> roofline "
        f"{1e3 * hrl['roofline_s']:.1f} ms ({hrl['bound']}-bound); every memory space (VMEM "
        f"too) {r['bytes_per_chip_all_memory_spaces_from_hlo']:.3g} B; XLA's count "
        f"{r['bytes_accessed_per_chip']:.3g} B")
    for name, b in sorted(cats.items(), key=lambda kv: -kv[1]):
      lines.append(f"  {name:34s} HBM {b:10.3g} B {100 * b / max(total, 1):5.1f}%   "
                   f"all spaces {every[name]:10.3g} B")
  if r.get("loops"):
    lines.append("WARNING: a loop (model.scan_layers=True, or the micro-batch loop of "
                 "train.microbatch_size): XLA's cost analysis counts a loop body once, not once "
                 "per iteration, so these FLOPs, bytes and the roofline are far too low (memory "
                 "is right); compile with scan_layers=False and without accumulation for them.")
  elif r.get("fused_attention_kernel"):
    lines.append("note: the fused attention kernel's backward FLOPs are not in XLA's count "
                 "(Pallas gives it a cost estimate for the forward kernel only)")
  return "\n".join(lines)


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                               formatter_class=argparse.RawDescriptionHelpFormatter)
  ap.add_argument("--config", default="configs/vitb16.py")
  ap.add_argument("--topology", default="v5e:2x4")
  ap.add_argument("--batch", type=int, default=None, help="global batch (default: config's)")
  ap.add_argument("--find_max_batch", action="store_true")
  ap.add_argument("--max_compiles", type=int, default=12, help="--find_max_batch bound")
  ap.add_argument("--max_seconds", type=float, default=3600, help="--find_max_batch bound")
  ap.add_argument("--granularity", type=int, default=0,
                  help="--find_max_batch resolution (default: the batch-axes' device count)")
  ap.add_argument("--text_kv_length", type=int, default=0,
                  help="compile the step for text attention over this many keys (an attention "
                  "bucket; 0: all max_length positions)")
  ap.add_argument("--json", default="", help="write all numbers to this file")
  ap.add_argument("--hlo_out", default="",
                  help="write each compiled program's optimised HLO text to this path "
                       "('{batch}' is replaced by the global batch)")
  ap.add_argument("--resume_json", default="",
                  help="reuse the compiles in this earlier --json (same config and topology), "
                       "e.g. to continue a --find_max_batch that hit its bounds")
  ap.add_argument("--config_override", nargs="*", action="extend", default=[],
                  metavar="KEY=VALUE", help="e.g. model.scan_layers=True model.dtype='bfloat16'")
  args = ap.parse_args(argv)

  # Measure what training compiles (tests may set JAX_DISABLE_MOST_OPTIMIZATIONS=1).
  jax.config.update("jax_disable_most_optimizations", False)
  # Compile-only TPU executables are written to the persistent cache but cannot be read back
  # ("PjRtCompiler must be constructed with a Client"): keep them out of it.
  jax.config.update("jax_enable_compilation_cache", False)
  config = config_files.load(
      args.config if os.path.exists(args.config) else str(REPO / args.config),
      args.config_override)
  if args.batch:
    config.train.batch_size = args.batch
  config_lib.validate(config)
  topo = Topology(args.topology)

  t0 = time.time()
  compiler = Compiler(config, topo, text_kv_length=args.text_kv_length, hlo_out=args.hlo_out)
  dev = compiler.devices[0]
  print(f"topology {topo.name} (libtpu '{topo.libtpu_name}', {topo.chip_config}): "
        f"{topo.num_chips} x {dev.device_kind}, HBM {topo.hbm_gib} GiB/chip, peak "
        f"{topo.peak_tflops} TFLOP/s bf16/chip")
  print(f"config {args.config} {' '.join(args.config_override)}: mesh "
        f"{dict(compiler.mesh.shape)}, {compiler.num_params / 1e6:.1f}M parameters, dtype "
        f"{config.model.dtype}, scan_layers {config.model.scan_layers}, remat "
        f"{config.model.remat_policy}  [setup {compiler.setup_s:.1f}s]")

  results = []
  key = _config_key(config, topo, args.text_kv_length)
  if args.resume_json:
    prev = json.loads(pathlib.Path(args.resume_json).read_text())
    if prev.get("config_key") != key:
      raise SystemExit(f"--resume_json {args.resume_json}: written for another config, "
                       "topology or --text_kv_length")
    results = list(prev["results"])
    for r in results:  # "fits" = libtpu compiled it (JSONs of the older sum rule said less)
      if not r.get("oom_at_compile") and r.get("memory_bytes_per_chip") is not None:
        r["fits"] = True
    print(f"reusing {len(results)} compiles from {args.resume_json}: batches "
          f"{sorted(r['batch'] for r in results)}")
  state = {"first": None, "search": None}

  def dump():  # after every compile, so a search stopped midway keeps (and can resume) them
    if args.json:
      _write_json(args, config, topo, compiler, key, results, state["first"], state["search"],
                  time.time() - t0)

  def log(line):
    print(line, flush=True)
    dump()

  first = next((r for r in results if r["batch"] == config.train.batch_size), None)
  if first is None:
    first = compiler.compile(config.train.batch_size)
    results.append(first)
  state["first"] = first
  dump()
  print(report(first, topo), flush=True)
  search = None
  if args.find_max_batch:
    print(f"searching the largest global batch (multiple of {compiler.divisor}):", flush=True)
    search = find_max_batch(compiler, config.train.batch_size, results,
                            max_compiles=args.max_compiles, max_seconds=args.max_seconds,
                            granularity=args.granularity or None,
                            log=lambda r: log(_line(r)))
    bound = "" if search["exact"] else " (search stopped by --max_compiles/--max_seconds)"
    print(f"largest global batch that fits: {search['max_batch']} (first failing: "
          f"{search['first_failing_batch']}){bound}; {search['new_compiles']} more compiles in "
          f"{search['seconds']} s")
    best = next((r for r in results if r["batch"] == search["max_batch"]), None)
    if best and first.get("flops_per_example") and best.get("flops_per_example"):
      extra = best["flops_per_example"] / first["flops_per_example"] - 1
      search["flops_per_example_vs_first"] = round(extra, 4)
      print(f"  at batch {best['batch']}: {best['memory_gib_per_chip']['peak']:.2f} GiB/chip, "
            f"FLOPs per example {100 * extra:+.1f}% vs batch {first['batch']}"
            + (" (the compiler rematerialises activations to fit: recompute)"
               if extra > 0.01 else ""))
    avail = [r["available_hbm_gib"] for r in results if "available_hbm_gib" in r]
    if avail:
      search["available_hbm_gib"] = avail[0]
      print(f"  HBM available to the program per libtpu: {avail[0]} GiB of {topo.hbm_gib}")
  state["search"] = search
  total_s = time.time() - t0
  print(f"total {total_s:.1f} s")
  if args.json:
    dump()
    print(f"wrote {args.json}")
  return 0


def _write_json(args, config, topo, compiler, key, results, first, search, total_s):
  dev = compiler.devices[0]
  out = {
      "config": args.config, "config_overrides": args.config_override, "config_key": key,
      "topology": topo.name, "libtpu_topology": topo.libtpu_name,
      "chip_config": topo.chip_config, "device_kind": dev.device_kind,
      "num_chips": topo.num_chips, "hbm_gib_per_chip": topo.hbm_gib,
      "peak_bf16_tflops_per_chip": topo.peak_tflops,
      "mesh": dict(compiler.mesh.shape), "batch_divisor": compiler.divisor,
      "num_params": int(compiler.num_params), "dtype": config.model.dtype,
      "scan_layers": bool(config.model.scan_layers),
      "remat_policy": config.model.remat_policy, "text_kv_length": args.text_kv_length,
      "memory_formula": "peak = argument + output + temp - alias (per chip); "
                        "fits = libtpu compiled it (it rejects programs that do not fit "
                        "its HBM); sum_within_hbm = peak + generated_code <= HBM",
      "flops_note": "cost_analysis() of the SPMD program = per chip; total = x num_chips",
      "jax": jax.__version__, "libtpu": _libtpu_version(),
      "setup_s": round(compiler.setup_s, 1), "total_s": round(total_s, 1),
      "result": first, "results": sorted(results, key=lambda r: r["batch"]),
      "max_batch_search": search,
  }
  path = pathlib.Path(args.json)
  path.parent.mkdir(parents=True, exist_ok=True)
  tmp = path.with_name(path.name + ".tmp")
  tmp.write_text(json.dumps(out, indent=2) + "\n")
  tmp.replace(path)  # never leave a half-written file behind


def _config_key(config, topo: Topology, text_kv_length: int = 0) -> str:
  """Identifies config (batch size aside) + topology + text key length, for --resume_json."""
  c = config.to_dict()
  c["train"] = {k: v for k, v in c["train"].items() if k != "batch_size"}
  parts = [c, topo.libtpu_name, topo.chip_config]
  if text_kv_length:  # (keys written before the flag existed stay valid for 0)
    parts.append(int(text_kv_length))
  text = json.dumps(parts, sort_keys=True, default=str)
  return hashlib.sha256(text.encode()).hexdigest()[:16]


def _libtpu_version():
  try:
    from importlib import metadata  # pylint: disable=g-import-not-at-top
    return metadata.version("libtpu")
  except Exception:  # pylint: disable=broad-except
    return None


if __name__ == "__main__":
  sys.exit(main())
