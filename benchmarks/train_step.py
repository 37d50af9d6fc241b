r"""Train-step benchmark: compile time, step time, examples/s, FLOPs and model FLOP utilisation.

  python benchmarks/train_step.py                                  # paper recipe, batch 4
  python benchmarks/train_step.py --config=configs/vitb16.py --batch=8 --steps=5
  python benchmarks/train_step.py --set model.dtype=\"bfloat16\" --set model.scan_layers=True
  python benchmarks/train_step.py --fast                           # the fast settings
  python benchmarks/train_step.py --json=/tmp/step.json

Compiles the real, jitted, sharded train step (paper recipe by default: 2 x ViT-B/16 through
the shared tower as one 2B batch, BERT-base at 512 tokens, three NT-Xent terms, SGD) on the
available devices with synthetic inputs (no input pipeline in the timing), then reports:

  compile time; median step time; examples/s; the step's FLOPs from XLA's cost analysis of the
  compiled program; achieved FLOP/s; model FLOP utilisation (MFU) = achieved / peak; and the
  compiled memory analysis (per device).

Peak: a table of bf16 / fp32 dense peaks for TPU v4 / v5e / v5p / v6e and A100 / H100 / H200
(by the device kind JAX reports), on CPU the throughput of a large matmul measured by this
script under XLA on the same machine, or ``--peak`` (FLOP/s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from focusclip_jax import config_files  # pylint: disable=wrong-import-position  # noqa: E402
from focusclip_jax import jsonio  # pylint: disable=wrong-import-position  # noqa: E402

# Dense peak FLOP/s per chip: (bf16, fp32). fp32 on TPUs runs through the MXU at bf16 passes;
# listed as the vendors' numbers where published, else the bf16 number.
PEAKS = {
    "TPU v4": (275e12, 275e12),
    "TPU v5 lite": (197e12, 197e12),  # v5e
    "TPU v5e": (197e12, 197e12),
    "TPU v5p": (459e12, 459e12),
    "TPU v5": (459e12, 459e12),
    "TPU v6 lite": (918e12, 918e12),  # v6e (Trillium)
    "TPU v6e": (918e12, 918e12),
    "NVIDIA A100": (312e12, 19.5e12),  # fp32 without TF32
    "NVIDIA H100": (989e12, 67e12),  # SXM dense
    "NVIDIA H200": (989e12, 67e12),
}

FAST_SETTINGS = {
    # Measured choices (BENCHMARKS.md): a shorter text with masked mean pooling (a documented
    # deviation: the reference pads to 512 and averages over the padding) and, on
    # accelerators, bf16 compute with fp32 parameters and loss.
    "model.text.max_length": 128,
    "model.text.pooling": "mean_masked",
}


def device_peak(dtype: str, measured_cpu_peak: float | None) -> tuple[float | None, str]:
  import jax  # pylint: disable=g-import-not-at-top
  kind = jax.devices()[0].device_kind
  for name, (bf16, fp32) in PEAKS.items():
    if kind.startswith(name):
      return (bf16 if dtype == "bfloat16" else fp32) * jax.device_count(), f"{kind} table"
  if jax.devices()[0].platform == "cpu":
    return measured_cpu_peak, "measured matmul on this CPU"
  return None, f"unknown device kind {kind!r} (pass --peak)"


def matmul_peak(dtype: str = "float32", n: int = 2048, repeats: int = 10) -> float:
  """FLOP/s of a large square matmul under XLA on the first device (best of ``repeats``)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  dt = jnp.dtype(dtype)
  a = jax.random.normal(jax.random.key(0), (n, n), dt)
  b = jax.random.normal(jax.random.key(1), (n, n), dt)
  f = jax.jit(lambda x, y: x @ y)
  f(a, b).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    f(a, b).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return 2 * n**3 / best


def unscanned_flops(config, mesh) -> float:
  """FLOPs of the train step for ``config`` with the layers unrolled (no while loop)."""
  from focusclip_jax import models  # pylint: disable=g-import-not-at-top
  from focusclip_jax import optimizer  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train_state  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train_step  # pylint: disable=g-import-not-at-top
  config = config.copy_and_resolve_references()
  config.model.scan_layers = False
  model = models.build_model(config)
  tx, lr = optimizer.build(config, train_state.abstract_train_params(model, config), 1000)
  jitted = train_step.build_step(model, config, tx, lr, mesh)
  _, _, cost = train_step.compile_train_step(jitted, model, config, tx, mesh)
  return float(cost.get("flops", float("nan")))


def build(config, *, batch: int, text_tokens: tuple[int, int] | None = None):
  """Compiles the train step of ``config`` at ``batch`` and makes a state and a synthetic batch.

  Returns a dict with ``compiled``, ``memory`` and ``cost`` (XLA's analyses), ``compile_s``,
  ``state``, ``batch`` (global arrays), ``mesh`` and the resolved ``config``. Shared with
  ``benchmarks/profile_step.py``. ``text_tokens=(lo, hi)``: real text lengths drawn uniformly
  from [lo, hi] (default [L/4, L]); with ``config.model.text.attention_buckets`` the step is
  compiled for the bucket the batch needs (``text_kv_length`` in the result; 0 = all).
  """
  import jax  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  from focusclip_jax import batch_spec  # pylint: disable=g-import-not-at-top
  from focusclip_jax import config_lib  # pylint: disable=g-import-not-at-top
  from focusclip_jax import models  # pylint: disable=g-import-not-at-top
  from focusclip_jax import optimizer  # pylint: disable=g-import-not-at-top
  from focusclip_jax import sharding  # pylint: disable=g-import-not-at-top
  from focusclip_jax import text_buckets  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train_state  # pylint: disable=g-import-not-at-top
  from focusclip_jax import train_step  # pylint: disable=g-import-not-at-top

  config.train.batch_size = batch
  config.model.image.init = ""  # random weights: the step's cost does not depend on them
  config.model.text.init = ""
  config_lib.validate(config)
  mesh = sharding.create_mesh(config)
  model = models.build_model(config)
  rng = np.random.default_rng(0)
  s, L = config.model.image.image_size, config.model.text.max_length
  lo, hi = text_tokens or (L // 4, L)
  lengths = rng.integers(min(lo, L), min(hi, L) + 1, size=batch)
  mask = (np.arange(L)[None] < lengths[:, None]).astype(np.int32)
  kv_length = text_buckets.choose(text_buckets.real_length(mask),
                                  config.model.text.attention_buckets, L)
  model = text_buckets.with_kv_length(model, kv_length)
  tx, lr = optimizer.build(config, train_state.abstract_train_params(model, config), 1000)
  jitted = train_step.build_step(model, config, tx, lr, mesh)
  t = time.perf_counter()
  compiled, memory, cost = train_step.compile_train_step(jitted, model, config, tx, mesh)
  compile_s = time.perf_counter() - t

  state = train_state.create_state(model, config, tx, mesh, jax.random.key(0))
  host = {"image": rng.uniform(size=(batch, s, s, 3)).astype(np.float32),
          "heatmap": rng.uniform(size=(batch, s, s, 1)).astype(np.float32),
          "text_ids": (rng.integers(1000, 30000, size=(batch, L)) * mask).astype(np.int32),
          "text_mask": mask}
  if config.train.cache_text_features:  # the step reads the cached text-tower outputs
    width = models.build_text_tower(config).width
    host = {k: v for k, v in host.items() if k not in batch_spec.TOKEN_KEYS}
    host[batch_spec.FEATURES_KEY] = rng.normal(size=(batch, width)).astype(np.float32)
  host = batch_spec.model_inputs(host, focus=config.model.focus.enabled)
  batch_arrays = sharding.make_global_batch(host, sharding.batch_sharding(mesh, config))
  return {"compiled": compiled, "memory": memory, "cost": cost, "compile_s": compile_s,
          "state": state, "batch": batch_arrays, "mesh": mesh, "config": config,
          "text_kv_length": kv_length, "text_real_lengths": [int(n) for n in lengths]}


def run(config, *, batch: int, steps: int, warmup: int, cpu_peak: float | None,
        peak: float | None, text_tokens: tuple[int, int] | None = None) -> dict:
  import jax  # pylint: disable=g-import-not-at-top
  from focusclip_jax import sharding  # pylint: disable=g-import-not-at-top

  b = build(config, batch=batch, text_tokens=text_tokens)
  compiled, memory, cost, compile_s = b["compiled"], b["memory"], b["cost"], b["compile_s"]
  state, batch_arrays, mesh = b["state"], b["batch"], b["mesh"]
  s, L = config.model.image.image_size, config.model.text.max_length
  times = []
  with sharding.mesh_context(mesh, config):
    for i in range(warmup + steps):
      t = time.perf_counter()
      state, metrics = compiled(state, batch_arrays)
      jax.block_until_ready(metrics["loss"])
      if i >= warmup:
        times.append(time.perf_counter() - t)
  step_s = statistics.median(times)
  flops = float(cost.get("flops", float("nan")))
  flops_source = "XLA cost analysis of the compiled step"
  if config.model.scan_layers:
    # XLA's cost analysis counts a while loop's body once, so a scanned step reports about
    # 1/depth of its FLOPs. Count them on the same step with the layers unrolled (lowered
    # and compiled for the analysis only; the timing above is of the scanned step).
    flops = unscanned_flops(config, mesh)
    flops_source = "XLA cost analysis of the same step with scan_layers=False"
  peak_value, peak_source = (peak, "--peak") if peak else device_peak(config.model.dtype,
                                                                       cpu_peak)
  achieved = flops / step_s
  gib = 1024**3
  mem = None
  if memory is not None:
    mem = {"arguments_gib": memory.argument_size_in_bytes / gib,
           "outputs_gib": memory.output_size_in_bytes / gib,
           "temporaries_gib": memory.temp_size_in_bytes / gib,
           "aliased_gib": memory.alias_size_in_bytes / gib}
    mem["peak_gib"] = (mem["arguments_gib"] + mem["outputs_gib"] + mem["temporaries_gib"]
                       - mem["aliased_gib"])
  return {
      "device": jax.devices()[0].device_kind, "num_devices": jax.device_count(),
      "batch": batch, "image": f"{config.model.image.variant}@{s}",
      "text": f"{config.model.text.variant}@{L} {config.model.text.pooling}",
      "dtype": config.model.dtype, "scan_layers": config.model.scan_layers,
      "remat_policy": config.model.remat_policy, "focus": config.model.focus.enabled,
      "compile_s": compile_s, "step_s_median": step_s, "step_s_all": times,
      "examples_per_s": batch / step_s, "flops_per_step": flops,
      "flops_source": flops_source,
      "achieved_flops_per_s": achieved, "peak_flops_per_s": peak_value,
      "peak_source": peak_source,
      "mfu": achieved / peak_value if peak_value else None,
      "memory_per_device": mem, "loss": float(metrics["loss"]),
      "matmul_precision": config.model.matmul_precision,
      "text_kv_length": b["text_kv_length"] or L,
      "text_real_lengths": b["text_real_lengths"],
  }


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--config", default="configs/vitb16.py")
  p.add_argument("--batch", type=int, default=4)
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="config override, e.g. --set model.dtype=\\\"bfloat16\\\"")
  p.add_argument("--fast", action="store_true", help="apply the fast settings (FAST_SETTINGS)")
  p.add_argument("--peak", type=float, default=None, help="peak FLOP/s of all devices")
  p.add_argument("--text_tokens", default=None, metavar="LO:HI",
                 help="real text lengths drawn uniformly from [LO, HI] (default L/4:L)")
  p.add_argument("--json", default=None)
  args = p.parse_args()
  text_tokens = tuple(int(x) for x in args.text_tokens.split(":")) if args.text_tokens else None

  overrides = list(args.set)
  if args.fast:
    overrides = [f"{k}={v!r}" for k, v in FAST_SETTINGS.items()] + overrides
  config = config_files.load(args.config, overrides)
  import jax  # pylint: disable=g-import-not-at-top
  cpu_peak = None
  if jax.devices()[0].platform == "cpu" and not args.peak:
    cpu_peak = matmul_peak("float32")
    print(f"CPU peak (XLA fp32 2048^3 matmul): {cpu_peak / 1e9:.1f} GFLOP/s")
  r = run(config, batch=args.batch, steps=args.steps, warmup=args.warmup, cpu_peak=cpu_peak,
          peak=args.peak, text_tokens=text_tokens)
  r["cpu_matmul_peak_flops_per_s"] = cpu_peak
  r["overrides"] = overrides
  print(f"device        {r['device']} x{r['num_devices']}")
  print(f"model         {r['image']} + {r['text']}, {r['dtype']}, "
        f"{'FocusCLIP' if r['focus'] else 'CLIP'}, scan={r['scan_layers']}, "
        f"remat={r['remat_policy']}")
  print(f"text          real lengths {min(r['text_real_lengths'])}-{max(r['text_real_lengths'])}"
        f" tokens, attention over {r['text_kv_length']} keys; matmul precision "
        f"{r['matmul_precision']}")
  print(f"compile       {r['compile_s']:.1f} s")
  print(f"step          {r['step_s_median'] * 1e3:.1f} ms (median of {args.steps}), "
        f"batch {r['batch']}, {r['examples_per_s']:.2f} examples/s")
  print(f"FLOPs/step    {r['flops_per_step'] / 1e9:.1f} GFLOP ({r['flops_source']})")
  print(f"achieved      {r['achieved_flops_per_s'] / 1e9:.1f} GFLOP/s")
  if r["mfu"] is not None:
    print(f"MFU           {100 * r['mfu']:.1f}% of {r['peak_flops_per_s'] / 1e9:.1f} GFLOP/s "
          f"({r['peak_source']})")
  if r["memory_per_device"]:
    m = r["memory_per_device"]
    print(f"memory/device peak {m['peak_gib']:.2f} GiB (arguments {m['arguments_gib']:.2f}, "
          f"outputs {m['outputs_gib']:.2f}, temporaries {m['temporaries_gib']:.2f}, "
          f"aliased {m['aliased_gib']:.2f})")
  if args.json:
    jsonio.write_json(r, args.json)


if __name__ == "__main__":
  main()
