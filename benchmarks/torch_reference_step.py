r"""The reference PyTorch stack's FocusCLIP train step on this machine, for comparison.

  pip install torch==2.13.0                  # CPU build (requirements-test.txt)
  python benchmarks/torch_reference_step.py --batch 4 --steps 3 --json torch_b4.json
  python benchmarks/torch_reference_step.py --threads 2 --seq_len 128 --text_pooling mean_masked

The reference (docs/method.md §1, §3.2, §5) trains a timm ViT-B/16 and a HF BERT-base in
PyTorch, fp32:
raw and highlighted images through the same ViT, BERT over 512 tokens averaged over all
positions, two Linear(768 -> 512) projections, alpha-highlighting, three NT-Xent terms
(tau 0.5), SGD with momentum 0.9 and gradient clipping at 1.0, BERT's dropout active. timm does
not install next to the CPU torch of this machine, so the ViT here is transformers' PyTorch
``ViTModel`` with the same architecture (pre-LN, 12 x 768, 12 heads, MLP 3072, exact GELU,
LayerNorm eps 1e-6, class-token pooling) — the same FLOPs and the same kernels (``nn.Linear``,
``F.gelu``, softmax attention) as timm's. Weights are random (the cost does not depend on them).

Reports: median step time, examples/s, the step's FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` (matmuls and convolutions, forward and backward),
achieved FLOP/s and their fraction of PyTorch's own peak on this CPU (best of a 2048^3 fp32
``torch.mm``), the same way ``benchmarks/train_step.py`` reports the JAX step against XLA's
matmul peak.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from focusclip_jax import jsonio  # pylint: disable=wrong-import-position  # noqa: E402


def build(batch: int, seq_len: int, text_pooling: str, text_tokens=None):
  import torch  # pylint: disable=g-import-not-at-top
  import torch.nn.functional as F  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top

  vit = transformers.ViTModel(transformers.ViTConfig(
      hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
      hidden_act="gelu", layer_norm_eps=1e-6, image_size=224, patch_size=16, qkv_bias=True,
      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0), add_pooling_layer=False)
  bert = transformers.BertModel(transformers.BertConfig(
      vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
      intermediate_size=3072, hidden_act="gelu", max_position_embeddings=512,
      hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1), add_pooling_layer=False)
  for m in (vit, bert):
    m.config._attn_implementation = "eager"  # pylint: disable=protected-access

  class FocusCLIP(torch.nn.Module):

    def __init__(self):
      super().__init__()
      self.vit, self.bert = vit, bert
      self.image_proj = torch.nn.Linear(768, 512)
      self.text_proj = torch.nn.Linear(768, 512)
      self.alpha = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, image, heatmap, ids, mask):
      highlighted = image * (self.alpha + (1 - self.alpha) * heatmap)
      e_i = self.image_proj(self.vit(pixel_values=image).last_hidden_state[:, 0])
      e_h = self.image_proj(self.vit(pixel_values=highlighted).last_hidden_state[:, 0])
      h = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
      if text_pooling == "mean_all":  # the reference: mean over all positions, padding included
        pooled = h.mean(1)
      else:
        m = mask[..., None].to(h.dtype)
        pooled = (h * m).sum(1) / m.sum(1).clamp(min=1)
      return e_i, e_h, self.text_proj(pooled)

  def ntxent(a, b, tau=0.5):
    n = a.shape[0]
    z = F.normalize(torch.cat([a, b]), dim=-1)
    sim = z @ z.T / tau
    idx = torch.arange(2 * n)
    pos = sim[idx, (idx + n) % (2 * n)]
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
    return (torch.logsumexp(sim, 1) - pos).mean()

  model = FocusCLIP().train()
  opt = torch.optim.SGD(model.parameters(), lr=5e-4, momentum=0.9)
  g = torch.Generator().manual_seed(0)
  # Real text lengths: the same draw as benchmarks/train_step.py's (numpy, seed 0).
  lo, hi = text_tokens or (seq_len // 4, seq_len)
  lengths = torch.as_tensor(np.random.default_rng(0).integers(min(lo, seq_len),
                                                              min(hi, seq_len) + 1, size=batch))
  mask = (torch.arange(seq_len)[None] < lengths[:, None]).long()
  inputs = (torch.rand(batch, 3, 224, 224, generator=g), torch.rand(batch, 1, 224, 224, generator=g),
            torch.randint(1000, 30000, (batch, seq_len), generator=g) * mask, mask)

  def step():
    opt.zero_grad(set_to_none=True)
    e_i, e_h, e_t = model(*inputs)
    loss = ntxent(e_h, e_i) + ntxent(e_h, e_t) + ntxent(e_i, e_t)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach().item()

  return step


# torch.profiler op names -> the groups benchmarks/profile_step.py reports for the JAX step.
# Eager PyTorch runs one op at a time (each on all intra-op threads), so the ops' self times
# add up to the step.
OP_GROUPS = (
    ("matmuls and the patch convolution", ("aten::mm", "aten::addmm", "aten::bmm",
                                           "aten::baddbmm", "aten::convolution",
                                           "aten::mkldnn_convolution",
                                           "aten::convolution_backward")),
    ("attention softmax and mask", ("aten::_softmax", "aten::_softmax_backward_data",
                                    "aten::masked_fill")),
    ("dropout", ("aten::native_dropout", "aten::native_dropout_backward", "aten::bernoulli_")),
    ("GELU", ("aten::gelu", "aten::gelu_backward")),
    ("LayerNorm", ("aten::native_layer_norm", "aten::native_layer_norm_backward")),
    ("optimizer and clipping (foreach kernels)", ("aten::_foreach_",)),
)


def op_group(name: str) -> str:
  for group, prefixes in OP_GROUPS:
    if any(name == p or (p.endswith("_") and name.startswith(p)) for p in prefixes):
      return group
  return "other (elementwise, copies, reductions, embedding)"


def profile_groups(step) -> dict:
  """One step under torch.profiler: wall time and the ops' self time per group (seconds)."""
  import torch  # pylint: disable=g-import-not-at-top
  with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
    t = time.perf_counter()
    step()
    wall = time.perf_counter() - t
  groups = {}
  for e in prof.key_averages():
    g = op_group(e.key)
    groups[g] = groups.get(g, 0.0) + e.self_cpu_time_total / 1e6
  return {"wall_s": wall, "self_s_by_group": dict(sorted(groups.items(), key=lambda x: -x[1]))}


def torch_matmul_peak(n: int = 2048, repeats: int = 10) -> float:
  import torch  # pylint: disable=g-import-not-at-top
  a, b = torch.randn(n, n), torch.randn(n, n)
  torch.mm(a, b)
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    torch.mm(a, b)
    best = min(best, time.perf_counter() - t)
  return 2 * n**3 / best


def main():
  p = argparse.ArgumentParser(description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("--batch", type=int, default=4)
  p.add_argument("--steps", type=int, default=3)
  p.add_argument("--warmup", type=int, default=2)
  p.add_argument("--seq_len", type=int, default=512)
  p.add_argument("--text_pooling", choices=("mean_all", "mean_masked"), default="mean_all")
  p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: default)")
  p.add_argument("--text_tokens", default=None, metavar="LO:HI",
                 help="real text lengths drawn uniformly from [LO, HI] (default L/4:L)")
  p.add_argument("--profile", action="store_true",
                 help="profile one more step and report its time per op group")
  p.add_argument("--json", default=None)
  args = p.parse_args()
  text_tokens = tuple(int(x) for x in args.text_tokens.split(":")) if args.text_tokens else None
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise SystemExit("this benchmark needs PyTorch: pip install torch==2.13.0 "
                     "(a CPU build; see requirements-test.txt)") from e
  from torch.utils.flop_counter import FlopCounterMode  # pylint: disable=g-import-not-at-top
  if args.threads:
    torch.set_num_threads(args.threads)
  torch.manual_seed(0)
  peak = torch_matmul_peak()
  print(f"PyTorch peak (fp32 2048^3 torch.mm, {torch.get_num_threads()} threads): "
        f"{peak / 1e9:.1f} GFLOP/s")
  step = build(args.batch, args.seq_len, args.text_pooling, text_tokens)
  counter = FlopCounterMode(display=False)
  with counter:
    loss = step()
  flops = float(counter.get_total_flops())
  for _ in range(args.warmup):
    step()
  times = []
  for _ in range(args.steps):
    t = time.perf_counter()
    loss = step()
    times.append(time.perf_counter() - t)
  step_s = statistics.median(times)
  r = {"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
       "seq_len": args.seq_len, "text_pooling": args.text_pooling, "step_s_median": step_s,
       "step_s_all": times, "examples_per_s": args.batch / step_s, "flops_per_step": flops,
       "flops_source": "torch.utils.flop_counter (matmuls + convolutions, fwd + bwd)",
       "achieved_flops_per_s": flops / step_s, "torch_matmul_peak_flops_per_s": peak,
       "mfu": flops / step_s / peak, "loss": loss}
  if args.profile:
    r["profile"] = profile_groups(step)
    total = sum(r["profile"]["self_s_by_group"].values())
    print(f"profiled step {r['profile']['wall_s']:.2f} s; ops' self time {total:.2f} s:")
    for g, sec in r["profile"]["self_s_by_group"].items():
      print(f"  {g:52s} {sec:7.2f} s  {100 * sec / total:5.1f}%")
  if args.json:
    jsonio.write_json(r, args.json)
  print(f"step          {step_s:.2f} s (median of {args.steps}), batch {args.batch}, "
        f"{r['examples_per_s']:.3f} examples/s")
  print(f"FLOPs/step    {flops / 1e9:.1f} GFLOP ({r['flops_source']})")
  print(f"achieved      {flops / step_s / 1e9:.1f} GFLOP/s = {100 * r['mfu']:.1f}% of PyTorch's "
        f"matmul peak")


if __name__ == "__main__":
  main()
