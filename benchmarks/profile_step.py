r"""Where a train step's time goes: an op-level breakdown from one profiled step.

  python benchmarks/profile_step.py                          # paper recipe, batch 4
  python benchmarks/profile_step.py --fast --batch 8 --top 30
  python benchmarks/profile_step.py --set train.dropout_rng=\"rbg\" --json /tmp/prof.json

Compiles the real train step exactly as ``benchmarks/train_step.py`` does (same config
handling, synthetic inputs), runs warm-up steps, traces one step with ``jax.profiler`` and
reads the trace back: every executed HLO op (XLA:CPU thunk, or device op on an accelerator)
with its duration. XLA:CPU runs independent ops concurrently, so an op's *wall share* is
its duration divided by the number of ops running at the same moment; the shares add up to
the step's busy time. Each op is matched to the compiled HLO for its JAX source location
(``op_name`` metadata) and, for matmuls, its FLOPs, then grouped into:

  matmul / conv, attention softmax+mask+head transposes, dropout (RNG + mask), GELU + MLP
  elementwise, LayerNorm, other model ops (embeddings, residuals, pooling, loss), optimizer +
  clipping + metrics, unattributed.

Prints the table per group (wall time, share, FLOPs, FLOP/s) and the ``--top`` ops; ``--json``
writes both. The trace itself stays in ``--trace_dir`` for TensorBoard / Perfetto.
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import math
import os
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from focusclip_jax import config_files  # pylint: disable=wrong-import-position  # noqa: E402
import train_step as train_step_bench  # pylint: disable=g-import-not-at-top,wrong-import-position

GROUPS = ("matmul / conv", "attention softmax, mask, head transposes", "dropout (RNG + mask)",
          "GELU + MLP elementwise", "LayerNorm", "other model ops",
          "optimizer, clipping, metrics", "unattributed")
# XLA:CPU runs some matmuls (plain ``dot`` thunks, as opposed to YNNPACK fusions) on its
# thread pool after the thunk's own trace event has ended: their time is not inside any op
# event. The gap between the step's wall time and the busy time of op events is reported as
# its own row, with those matmuls' FLOPs.
ASYNC_ROW = "not inside an op event (async matmuls, gaps)"

_DEF = re.compile(r"^\s*(?:ROOT )?%([\w.\-]+) = (\w+)\[([\d,]*)\]")
_COMP = re.compile(r"^(?:ENTRY )?%([\w.\-]+) ")


def parse_hlo(text: str):
  """Instructions and computations of an HLO module.

  Returns ``(insts, comps, nested)``: ``insts`` maps the name of every instruction that runs
  as its own op (in the entry computation or a control-flow body, not inside a fusion) to
  ``(computation, line)``; ``comps`` maps computation names to their lines; ``nested`` holds
  the names of instructions inside fusions (some runtimes trace those too, inside their
  fusion's event).
  """
  comps, cur = {}, None
  for line in text.splitlines():
    m = _COMP.match(line)
    if m and line.rstrip().endswith("{"):
      cur = m.group(1)
      comps[cur] = []
      continue
    if cur is not None and line.strip() and line.strip() != "}":
      comps[cur].append(line)
  fused = set()
  for lines in comps.values():
    for line in lines:
      if " fusion(" in line:
        fused.update(re.findall(r"calls=%([\w.\-]+)", line))
  insts, nested = {}, set()
  for comp, lines in comps.items():
    for line in lines:
      d = _DEF.match(line)
      if not d:
        continue
      if comp in fused:
        nested.add(d.group(1))
      else:
        insts.setdefault(d.group(1), (comp, line))
  nested -= set(insts)
  return insts, comps, nested


def _dims(s: str) -> list[int]:
  return [int(x) for x in s.split(",") if x]


def dot_flops(line: str, comp_lines: list[str]) -> float:
  """2 * |output| * |contracted| of one HLO ``dot`` instruction (0 for anything else)."""
  d = _DEF.match(line)
  if not d or " dot(" not in line:
    return 0.0
  args = re.search(r"dot\(%([\w.\-]+), %([\w.\-]+)\)", line)
  contracting = re.search(r"lhs_contracting_dims=\{([\d,]*)\}", line)
  if not args or not contracting:
    return 0.0
  lhs = None
  for other in comp_lines:
    o = _DEF.match(other)
    if o and o.group(1) == args.group(1):
      lhs = _dims(o.group(3))
      break
  if lhs is None:
    return 0.0
  k = math.prod(lhs[int(i)] for i in contracting.group(1).split(","))
  return 2.0 * math.prod(_dims(d.group(3))) * k


def _calls(line: str) -> list[str]:
  return re.findall(r"(?:calls|body|condition|to_apply)=%([\w.\-]+)", line)


def computation_flops(comp: str, comps, depth: int = 0) -> float:
  """Matmul FLOPs of one pass through an HLO computation, nested calls included."""
  total = 0.0
  for line in comps.get(comp, []):
    total += dot_flops(line, comps[comp])
    if depth < 4:
      total += sum(computation_flops(c, comps, depth + 1) for c in _calls(line))
  return total


def op_flops(name: str, insts, comps) -> float:
  """Matmul FLOPs of an executed op: its own dot, or the dots of the computations it calls."""
  if name not in insts:
    return 0.0
  comp, line = insts[name]
  return dot_flops(line, comps[comp]) + sum(computation_flops(c, comps) for c in _calls(line))


def categorise(op_name: str, flops: float) -> str:
  if flops > 0 or "dot_general" in op_name.rsplit("/", 1)[-1] or "conv_general" in op_name:
    return GROUPS[0]
  if not op_name:
    return GROUPS[7]
  if "Dropout" in op_name or "_bernoulli" in op_name or "random_bits" in op_name:
    return GROUPS[2]
  if "/mlp/" in op_name:
    return GROUPS[3]
  if "/attn/" in op_name:
    return GROUPS[1]
  # Our LayerNorm modules: ln_attn / ln_mlp (blocks), embeddings_ln (BERT), encoder_norm (ViT),
  # norm (ConvNet).
  if re.search(r"(^|/)(ln_\w+|\w+_ln|\w*norm)/", op_name):
    return GROUPS[4]
  if "jvp(" in op_name:
    return GROUPS[5]
  return GROUPS[6]


# Runtime bookkeeping events, and control-flow ops that contain other executed ops.
_SKIP = ("$", "ThunkExecutor", "Slinky", "Mutex", "Common", "Handle", "Python", "end:", "Wait",
         "Parse", "Thread", "Pjit", "PjRt", "TfrtCpu", "while", "conditional", "call")


def wall_shares(events: list[dict], nested: set[str] = frozenset()
                ) -> tuple[dict[str, float], dict[str, float], float]:
  """Per-op duration and concurrency-shared wall time (µs), and the busy wall time."""
  ops = [e for e in events if e.get("ph") == "X" and not e["name"].startswith(_SKIP)
         and e["name"] not in nested]
  points = []
  for i, e in enumerate(ops):
    points.append((e["ts"], 1, i))
    points.append((e["ts"] + e.get("dur", 0), -1, i))
  points.sort()
  active, last, busy = set(), None, 0.0
  share = collections.defaultdict(float)
  for t, kind, i in points:
    if last is not None and active:
      dt = t - last
      busy += dt
      for j in active:
        share[ops[j]["name"]] += dt / len(active)
    last = t
    if kind == 1:
      active.add(i)
    else:
      active.discard(i)
  duration = collections.defaultdict(float)
  for e in ops:
    duration[e["name"]] += e.get("dur", 0)
  return duration, share, busy


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--config", default="configs/vitb16.py")
  p.add_argument("--batch", type=int, default=4)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
  p.add_argument("--fast", action="store_true", help="apply the fast settings (FAST_SETTINGS)")
  p.add_argument("--top", type=int, default=20, help="list the N ops with most wall time")
  p.add_argument("--trace_dir", default=None, help="where to keep the trace (default: a tmp dir)")
  p.add_argument("--json", default=None)
  args = p.parse_args()

  overrides = list(args.set)
  if args.fast:
    overrides = [f"{k}={v!r}" for k, v in train_step_bench.FAST_SETTINGS.items()] + overrides
  config = config_files.load(args.config, overrides)
  import jax  # pylint: disable=g-import-not-at-top
  from focusclip_jax import sharding  # pylint: disable=g-import-not-at-top

  b = train_step_bench.build(config, batch=args.batch)
  compiled, state, batch = b["compiled"], b["state"], b["batch"]
  insts, comps, nested = parse_hlo(compiled.as_text())
  trace_dir = args.trace_dir or tempfile.mkdtemp(prefix="focusclip_profile_")
  with sharding.mesh_context(b["mesh"], config):
    for _ in range(args.warmup):
      state, metrics = compiled(state, batch)
      jax.block_until_ready(metrics["loss"])
    jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
    t = time.perf_counter()
    state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics["loss"])
    step_s = time.perf_counter() - t
    jax.profiler.stop_trace()
  traces = sorted(glob.glob(os.path.join(trace_dir, "**", "*.trace.json.gz"), recursive=True),
                  key=os.path.getmtime)
  if not traces:
    raise SystemExit(f"no trace written under {trace_dir}; is the profiler available?")
  with gzip.open(traces[-1]) as f:
    events = json.load(f)["traceEvents"]
  duration, share, busy = wall_shares(events, nested)

  groups = {g: {"wall_ms": 0.0, "op_ms": 0.0, "ops": 0, "flops": 0.0}
            for g in GROUPS + (ASYNC_ROW,)}
  rows, async_flops, async_ms = [], 0.0, 0.0
  for name, wall in share.items():
    line = insts.get(name, (None, ""))[1]
    m = re.search(r'op_name="([^"]*)"', line)
    op_name = m.group(1) if m else ""
    flops = op_flops(name, insts, comps)
    group = categorise(op_name, flops) if line else GROUPS[7]
    if flops and " dot(" in line and " fusion(" not in line:
      async_flops += flops
      async_ms += wall / 1e3
      group = ASYNC_ROW
    g = groups[group]
    g["wall_ms"] += wall / 1e3
    g["op_ms"] += duration[name] / 1e3
    g["ops"] += 1
    g["flops"] += flops
    rows.append({"op": name, "wall_ms": wall / 1e3, "op_ms": duration[name] / 1e3,
                 "flops": flops, "group": group, "source": op_name})
  # The async matmuls' compute runs in the gaps between op events.
  groups[ASYNC_ROW]["wall_ms"] += max(step_s * 1e3 - busy / 1e3, 0.0)
  rows.sort(key=lambda r: -r["wall_ms"])
  total_flops = float(b["cost"].get("flops", float("nan")))

  print(f"step {step_s:.2f} s (profiled), op events busy {busy / 1e6:.2f} s, "
        f"{len(share)} ops, XLA cost analysis {total_flops / 1e9:.0f} GFLOP")
  print(f"{'group':46s} {'wall s':>7s} {'share':>6s} {'GFLOP':>7s} {'GFLOP/s':>8s}")
  for name in GROUPS + (ASYNC_ROW,):
    g = groups[name]
    rate = g["flops"] / (g["wall_ms"] / 1e3) / 1e9 if g["wall_ms"] and g["flops"] else 0.0
    print(f"{name:46s} {g['wall_ms'] / 1e3:7.2f} {100 * g['wall_ms'] / (step_s * 1e3):5.1f}% "
          f"{g['flops'] / 1e9:7.0f} {rate:8.1f}")
  mm = groups[GROUPS[0]]["wall_ms"] + groups[ASYNC_ROW]["wall_ms"]
  mm_flops = groups[GROUPS[0]]["flops"] + groups[ASYNC_ROW]["flops"]
  print(f"matmuls: {mm_flops / 1e9:.0f} GFLOP in ~{mm / 1e3:.2f} s = {mm_flops / mm / 1e6:.1f} "
        f"GFLOP/s; everything else {step_s - mm / 1e3:.2f} s. With the other work free, the "
        f"step would run at {total_flops / (mm / 1e3) / 1e9:.1f} GFLOP/s.")
  print(f"\ntop {args.top} ops by wall share")
  for r in rows[:args.top]:
    rate = (r["flops"] / (r["wall_ms"] / 1e3) / 1e9
            if r["flops"] and r["group"] != ASYNC_ROW else 0.0)
    print(f"{r['wall_ms']:8.1f} ms {rate:7.1f} GFLOP/s  {r['group'][:22]:22s} "
          f"{r['source'][-80:] or r['op']}")
  print(f"\ntrace: {trace_dir}")
  if args.json:
    with open(args.json, "w") as f:
      json.dump({"step_s": step_s, "busy_s": busy / 1e6, "xla_flops": total_flops,
                 "overrides": overrides, "batch": args.batch, "groups": groups,
                 "ops": rows}, f, indent=2)


if __name__ == "__main__":
  main()
