"""Bytes of HBM traffic per op category, read off a compiled program's optimised HLO.

XLA's ``cost_analysis()['bytes accessed']`` is one number for the whole step. To see which
tensors make a memory-bound step slow, this module walks the HLO text of the compiled program
(``compiled.as_text()``), takes every op that runs as its own kernel (the instructions of the
entry computation and of the bodies of its loops and conditionals: a fusion counts once, with
the operands it reads and the result it writes, not the ops fused inside it) and charges it

  bytes = sum(operand sizes) + result size        (dense sizes: dtype width x elements)

counting only arrays in the default memory space (HBM): arrays a TPU layout places elsewhere
(``S(1)``: on-chip VMEM, ``S(2)``: sync flags, ...) are not HBM traffic. An asynchronous
``*-start`` op (copy, slice, collective-permute prefetches into VMEM) moves one payload: it
counts the payload once per side that is in HBM (source read, destination write); ``*-done``
counts nothing.

to a category chosen from the op's ``metadata={op_name=...}`` (the JAX/Flax name stack: the
forward pass under ``jvp(FocusCLIP)``, its gradient under ``transpose(jvp(FocusCLIP))``) and
its shapes:

- ``attention maps``: an op inside an attention module (``/attn/``), outside its q/k/v/out
  head projections, that reads or writes a rank-4 array (batch x heads x queries x keys:
  scores, probabilities, their dropout masks and gradients; with the fused kernel,
  ``model.text.attention_kernel='pallas_tpu'``, the kernel's own reads and writes);
- ``text tower`` / ``image tower``: the other ops of ``text_tower`` / ``image_tower`` and
  ``focus_tower``, forward and backward (activations, their gradients, the weights they read);
- ``projections, highlight and loss``: the rest of the differentiated function;
- ``collectives``: all-reduce, all-gather, reduce-scatter, all-to-all, collective-permute;
- ``optimizer and parameters``: everything outside the differentiated function: the gradient
  norm, the optimizer update and the non-finite guard over the whole state, the dropout keys;
- ``unattributed``: ops the compiler added that name no JAX op (copies, layout changes);
  an asynchronous copy or slice (a prefetch into VMEM) goes to the category of the first op
  that reads it.

It is an estimate with the same conventions as XLA's own count: each operand counted as read
once per kernel, layouts' padding (TPU tiles) ignored, a loop body counted ``known_trip_count``
times when the compiler records it (XLA's cost analysis counts it once). Its total is printed
next to XLA's so the two can be compared.
"""

from __future__ import annotations

import argparse
import collections
import math
import re

DTYPE_BYTES = {
    "pred": 1, "s4": 0.5, "u4": 0.5, "s8": 1, "u8": 1, "f8e4m3fn": 1, "f8e5m2": 1,
    "f8e4m3b11fnuz": 1, "f8e4m3fnuz": 1, "f8e5m2fnuz": 1, "s16": 2, "u16": 2, "f16": 2,
    "bf16": 2, "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
    "c128": 16, "token": 0,
}
# Instructions that move no data of their own (views, tuples, bookkeeping).
FREE_OPS = {"parameter", "constant", "get-tuple-element", "tuple", "bitcast", "after-all",
            "partition-id", "replica-id", "opt-barrier", "iota", "while", "conditional",
            "call", "add-dependency", "copy-done", "all-reduce-done", "all-gather-done",
            "collective-permute-done", "async-done", "send-done", "recv-done", "domain"}
COLLECTIVES = {"all-reduce", "all-gather", "reduce-scatter", "all-to-all", "collective-permute",
               "all-reduce-start", "all-gather-start", "collective-permute-start",
               "ragged-all-to-all", "collective-broadcast"}
CATEGORIES = ("attention maps", "text tower", "image tower", "projections, highlight and loss",
              "optimizer and parameters", "collectives", "unattributed")

_ARRAY = re.compile(r"\b([a-z][a-z0-9]*)\[([0-9,]*)\](\{[^}]*\})?")
_MEMORY_SPACE = re.compile(r"S\((\d+)\)")
_COMPUTATION = re.compile(r"^\s*(ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_NAME = re.compile(r"%([\w.\-]+)")
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_TRIP_COUNT = re.compile(r'"known_trip_count":\{"n":"(\d+)"\}')


def array_shapes(shape_text: str, hbm_only: bool = False) -> list[tuple[str, tuple[int, ...]]]:
  """'(f32[8,16]{1,0}, s32[])' -> [('f32', (8, 16)), ('s32', ())] (arrays in a tuple too);
  hbm_only: without the arrays a layout puts in another memory space (``S(n)``, n > 0)."""
  out = []
  for dtype, dims, layout in _ARRAY.findall(shape_text):
    if dtype not in DTYPE_BYTES:
      continue
    space = _MEMORY_SPACE.search(layout or "")
    if hbm_only and space and int(space.group(1)) != 0:
      continue
    out.append((dtype, tuple(int(d) for d in dims.split(",") if d)))
  return out


def shape_bytes(shape_text: str, hbm_only: bool = True) -> float:
  """Dense bytes of the arrays in a shape (by default those in HBM only)."""
  return sum(DTYPE_BYTES[dt] * math.prod(dims)
             for dt, dims in array_shapes(shape_text, hbm_only))


def _in_hbm(shape_text: str) -> bool:
  space = _MEMORY_SPACE.search(shape_text)
  return not space or int(space.group(1)) == 0


def async_start_bytes(ins: "Instruction", shapes: dict[str, str], hbm_only: bool = True) -> float:
  """HBM bytes of an asynchronous ``*-start``: its payload (the largest array of its result
  that is not inside a nested tuple, i.e. not an alias of the source) once for the source if
  that is in HBM and once for the destination if that is."""
  inner = ins.shape.strip()
  parts = _split_top(inner[1:-1]) if inner.startswith("(") else [inner]
  arrays = [p.strip() for p in parts if not re.sub(r"/\*.*?\*/", "", p).strip().startswith("(")]
  if not arrays:
    return 0.0
  dst = max(arrays, key=lambda p: shape_bytes(p, hbm_only=False))
  payload = shape_bytes(dst, hbm_only=False)
  src = shapes.get(ins.operands[0], "") if ins.operands else ""
  if not hbm_only:
    return 2 * payload
  return payload * (int(_in_hbm(src)) + int(_in_hbm(dst)))


def _balanced(text: str, start: int) -> int:
  """Index just past the bracket group opening at text[start] ('(' or '{' or '[')."""
  pairs = {"(": ")", "{": "}", "[": "]"}
  stack = []
  for i in range(start, len(text)):
    c = text[i]
    if c in pairs:
      stack.append(pairs[c])
    elif stack and c == stack[-1]:
      stack.pop()
      if not stack:
        return i + 1
  raise ValueError(f"unbalanced brackets in HLO line: {text[:200]!r}")


def _split_top(text: str) -> list[str]:
  """Splits at commas outside brackets."""
  out, depth, cur = [], 0, []
  for c in text:
    if c in "([{":
      depth += 1
    elif c in ")]}":
      depth -= 1
    if c == "," and depth == 0:
      out.append("".join(cur))
      cur = []
    else:
      cur.append(c)
  if "".join(cur).strip():
    out.append("".join(cur))
  return out


class Instruction:
  """One HLO instruction: name, result shape text, opcode, operand names, attributes."""

  def __init__(self, line: str):
    line = line.strip()
    if line.startswith("ROOT "):
      line = line[5:]
    name, rest = line.split("=", 1)
    self.name = name.strip().lstrip("%")
    rest = rest.lstrip()
    if rest.startswith("("):  # a tuple shape
      end = _balanced(rest, 0)
    else:
      m = re.match(r"\S+", rest)
      end = m.end()
      # A layout may hold spaces only inside braces; the shape token ends at the first space
      # outside them.
      if "{" in rest[:end] and rest[:end].count("{") != rest[:end].count("}"):
        end = _balanced(rest, rest.index("{"))
    self.shape = rest[:end]
    rest = rest[end:].lstrip()
    m = re.match(r"([\w\-]+)\(", rest)
    if not m:
      raise ValueError(f"not an HLO instruction: {line[:200]!r}")
    self.opcode = m.group(1)
    close = _balanced(rest, m.end() - 1)
    self.operands = [(_NAME.findall(o) or [""])[-1] for o in _split_top(rest[m.end():close - 1])]
    self.attributes = rest[close:]
    op = _OP_NAME.search(self.attributes)
    self.op_name = op.group(1) if op else ""

  def called(self) -> dict[str, list[str]]:
    """{attribute: [computation names]} of the computations this instruction calls."""
    out = {}
    for key in ("calls", "to_apply", "body", "condition", "true_computation",
                "false_computation", "branch_computations"):
      m = re.search(rf"\b{key}=(\{{[^}}]*\}}|%?[\w.\-]+)", self.attributes)
      if m:
        out[key] = _NAME.findall(m.group(1)) or [m.group(1).strip("{}% ")]
    return out


def parse(hlo_text: str) -> tuple[dict[str, list[Instruction]], str]:
  """HLO module text -> ({computation name: instructions}, entry computation name)."""
  computations, entry, current = {}, None, None
  for line in hlo_text.splitlines():
    if current is None:
      m = _COMPUTATION.match(line)
      if m and not line.lstrip().startswith("HloModule"):
        current = m.group(2)
        computations[current] = []
        if m.group(1):
          entry = current
      continue
    if line.startswith("}"):  # "}" or, for a SparseCore computation (v4, v5p, v6e),
      current = None          # '}, execution_thread="sparsecore"'
      continue
    if "=" in line and line.strip() and not line.strip().startswith("//"):
      computations[current].append(Instruction(line))
  if entry is None:
    raise ValueError("no ENTRY computation in the HLO text")
  return computations, entry


def kernels(hlo_text: str):
  """Yields (instruction, times it runs per step, {name: shape text} of its computation) for
  every instruction that runs as its own kernel."""
  computations, entry = parse(hlo_text)

  def walk(name, times):
    instrs = computations[name]
    shapes = {i.name: i.shape for i in instrs}
    for ins in instrs:
      called = ins.called()
      if ins.opcode == "while":
        m = _TRIP_COUNT.search(ins.attributes)
        n = int(m.group(1)) if m else 1
        yield from walk(called["body"][0], times * n)
        yield from walk(called["condition"][0], times * n)
      elif ins.opcode == "conditional":
        for key in ("true_computation", "false_computation", "branch_computations"):
          for c in called.get(key, []):
            yield from walk(c, times)  # every branch: an upper bound
      elif ins.opcode == "call":
        yield from walk(called["to_apply"][0], times)
      yield ins, times, shapes

  yield from walk(entry, 1)


def _is_view(ins: Instruction) -> bool:
  """Ops that move no data: FREE_OPS and TPU's ConcatBitcast (buffers already adjacent)."""
  return ins.opcode in FREE_OPS or (ins.opcode == "custom-call" and
                                    'custom_call_target="ConcatBitcast"' in ins.attributes)


# The attention module's head projections (models/layers.py HeadsProjection): their
# [batch, length, heads, head_dim] arrays are rank 4 too, but they are tower activations.
_HEAD_PROJECTION = re.compile(r"/attn/(query|key|value|out)/")


def _is_attention_map(ins: Instruction, shapes: dict[str, str]) -> bool:
  if "/attn/" not in ins.op_name or _HEAD_PROJECTION.search(ins.op_name):
    return False
  for text in [ins.shape] + [shapes.get(o, "") for o in ins.operands]:
    if any(len(dims) == 4 for _, dims in array_shapes(text)):
      return True
  return False


def category(ins: Instruction, shapes: dict[str, str]) -> str:
  """The category an op's bytes are charged to (module docstring)."""
  if ins.opcode in COLLECTIVES:
    return "collectives"
  name = ins.op_name
  if _is_attention_map(ins, shapes):
    return "attention maps"
  if "text_tower" in name:
    return "text tower"
  if "image_tower" in name or "focus_tower" in name:
    return "image tower"
  if "jvp(" in name:  # the rest of the differentiated function: heads, highlight, the loss
    return "projections, highlight and loss"
  if not name:  # an op the compiler added (a copy, a layout change) that names no JAX op
    return "unattributed"
  return "optimizer and parameters"


def instruction_bytes(ins: Instruction, shapes: dict[str, str], hbm_only: bool = True) -> float:
  """Bytes one run of a kernel reads and writes (module docstring)."""
  if ins.opcode.endswith("-start"):
    return async_start_bytes(ins, shapes, hbm_only)
  return shape_bytes(ins.shape, hbm_only) + sum(shape_bytes(shapes.get(o, ""), hbm_only)
                                                for o in ins.operands)


def bytes_by_category(hlo_text: str, hbm_only: bool = True) -> dict:
  """{'categories': {category: bytes}, 'total': bytes, 'largest': [(bytes, opcode, category,
  op_name)] (the 15 largest kernels), 'by_opcode': {opcode: bytes} (the 12 largest)}.
  hbm_only=False: every memory space, as XLA's cost analysis counts (on TPU it includes the
  accesses to on-chip VMEM, so it overstates HBM traffic)."""
  totals = collections.Counter({c: 0.0 for c in CATEGORIES})
  by_opcode = collections.Counter()
  ops = []
  runs = list(kernels(hlo_text))
  users = collections.defaultdict(list)
  for ins, _, shapes in runs:
    for o in ins.operands:
      users[o].append((ins, shapes))

  def consumer_category(name):
    """An asynchronous copy or slice (the compiler's prefetch into VMEM) names no JAX op: the
    category of the first named op that reads its result (through views and other copies)."""
    seen, queue = {name}, [name]
    while queue:
      for ins, shapes in users[queue.pop(0)]:
        if ins.name in seen:
          continue
        seen.add(ins.name)
        if _is_view(ins) or ins.opcode.endswith(("-start", "-done")) or not ins.op_name:
          queue.append(ins.name)
        else:
          return category(ins, shapes)
    return "unattributed"

  for ins, times, shapes in runs:
    if _is_view(ins) or ins.opcode.endswith("-done"):
      continue
    b = times * instruction_bytes(ins, shapes, hbm_only)
    cat = category(ins, shapes)
    if ins.opcode.endswith("-start") and cat == "unattributed":
      cat = consumer_category(ins.name)
    totals[cat] += b
    by_opcode[ins.opcode] += b
    ops.append((b, ins.opcode, cat, ins.op_name[-160:]))
  ops.sort(reverse=True)
  return {"categories": dict(totals), "total": sum(totals.values()), "largest": ops[:15],
          "by_opcode": dict(by_opcode.most_common(12))}


def main(argv=None) -> None:
  """python benchmarks/hlo_bytes.py PROGRAM.hlo [...]: the table for HLO text saved by
  ``benchmarks/aot_compile.py --hlo_out`` (or any ``compiled.as_text()``)."""
  ap = argparse.ArgumentParser(description=main.__doc__)
  ap.add_argument("hlo", nargs="+")
  for path in ap.parse_args(argv).hlo:
    with open(path, encoding="utf-8") as f:
      text = f.read()
    hbm, every = bytes_by_category(text), bytes_by_category(text, hbm_only=False)
    print(f"{path}: {hbm['total']:.3g} B in HBM, {every['total']:.3g} B in every memory space")
    for name in CATEGORIES:
      print(f"  {name:34s} HBM {hbm['categories'][name]:10.3g} B "
            f"{100 * hbm['categories'][name] / max(hbm['total'], 1):5.1f}%   "
            f"all spaces {every['categories'][name]:10.3g} B")


if __name__ == "__main__":
  main()
