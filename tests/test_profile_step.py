"""benchmarks/profile_step.py's trace accounting: matmul FLOPs from HLO, wall shares, groups."""

import importlib.util
import pathlib
import sys

import jax
import jax.numpy as jnp
import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def profile_step():
  sys.path.insert(0, str(REPO / "benchmarks"))
  spec = importlib.util.spec_from_file_location("profile_step",
                                                REPO / "benchmarks" / "profile_step.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_matmul_flops_of_a_compiled_module(profile_step):
  def f(a, b, x, y):
    return jax.nn.gelu(a @ b), jnp.einsum("bqd,bkd->bqk", x, y)

  args = (jnp.ones((64, 32)), jnp.ones((32, 16)), jnp.ones((4, 10, 8)), jnp.ones((4, 12, 8)))
  compiled = jax.jit(f).lower(*args).compile()
  insts, comps, nested = profile_step.parse_hlo(compiled.as_text())
  total = sum(profile_step.op_flops(name, insts, comps) for name in insts)
  # Hand count: 2*M*N*K for the matmul, 2*B*Q*K*D for the batched one.
  assert total == 2 * 64 * 16 * 32 + 2 * 4 * 10 * 12 * 8
  assert not set(insts) & nested


def test_wall_shares_split_concurrent_time(profile_step):
  events = [
      {"ph": "X", "name": "fusion.1", "ts": 0, "dur": 10},
      {"ph": "X", "name": "ynn_fusion.2", "ts": 5, "dur": 10},
      {"ph": "X", "name": "ThunkExecutor::Execute", "ts": 0, "dur": 100},  # bookkeeping
      {"ph": "X", "name": "add.3", "ts": 0, "dur": 15},  # inside a fusion: skipped
      {"ph": "X", "name": "copy.4", "ts": 20, "dur": 4},
      {"ph": "i", "name": "marker", "ts": 1},
  ]
  duration, share, busy = profile_step.wall_shares(events, nested={"add.3"})
  assert share == {"fusion.1": 7.5, "ynn_fusion.2": 7.5, "copy.4": 4.0}
  assert duration == {"fusion.1": 10, "ynn_fusion.2": 10, "copy.4": 4}
  assert busy == 19.0


@pytest.mark.parametrize("op_name,flops,group", [
    ("jit(train_step)/jvp(FocusCLIP)/encoder/block_3/mlp/fc1/dot_general", 1.0, 0),
    ("jit(train_step)/jvp(FocusCLIP)/text_tower/encoder/block_3/attn/reduce_max", 0.0, 1),
    ("jit(train_step)/jvp(FocusCLIP)/text_tower/Dropout_0/jit(_bernoulli)/jit(_uniform)/add",
     0.0, 2),
    ("jit(train_step)/jvp(FocusCLIP)/image_tower/encoder/block_0/mlp/erf", 0.0, 3),
    ("jit(train_step)/jvp(FocusCLIP)/image_tower/encoder/block_0/ln_mlp/reduce_sum", 0.0, 4),
    ("jit(train_step)/jvp(FocusCLIP)/text_tower/embeddings_ln/mul", 0.0, 4),
    ("jit(train_step)/transpose(jvp(FocusCLIP))/image_tower/encoder_norm/sub", 0.0, 4),
    ("jit(train_step)/jvp(FocusCLIP)/image_tower/embedding/add", 0.0, 5),
    ("jit(train_step)/jit(_where)/select_n", 0.0, 6),
    ("", 0.0, 7),
])
def test_groups(profile_step, op_name, flops, group):
  assert profile_step.categorise(op_name, flops) == profile_step.GROUPS[group]


def test_torch_reference_profile_groups():
  """benchmarks/torch_reference_step.py --profile: PyTorch ops into the same groups, and a
  profiled step's self times account for its matmuls."""
  import torch  # pylint: disable=g-import-not-at-top
  spec = importlib.util.spec_from_file_location("torch_reference_step",
                                                REPO / "benchmarks" / "torch_reference_step.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  assert module.op_group("aten::addmm") == "matmuls and the patch convolution"
  assert module.op_group("aten::_foreach_add_") == "optimizer and clipping (foreach kernels)"
  assert module.op_group("aten::gelu_backward") == "GELU"
  assert module.op_group("aten::add_").startswith("other")
  assert module.op_group("aten::mmx").startswith("other")  # names match whole, not by prefix
  a = torch.randn(256, 256, requires_grad=True)
  out = module.profile_groups(lambda: torch.nn.functional.gelu(a @ a).sum().backward())
  groups = out["self_s_by_group"]
  assert groups["matmuls and the patch convolution"] > 0 and groups["GELU"] > 0
  assert sum(groups.values()) <= out["wall_s"] * 1.5
