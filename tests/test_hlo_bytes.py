"""benchmarks/hlo_bytes.py: HBM traffic per op category from a compiled program's HLO."""

import jax
import jax.numpy as jnp
import pytest

from benchmarks import hlo_bytes

# A hand-written module in the format of compiled.as_text() (TPU layouts, an index comment in a
# tuple shape, a fusion, a while loop with a known trip count, a conditional, a collective).
HLO = """HloModule jit_step, is_scheduled=true, entry_computation_layout={(f32[4,8]{1,0})->f32[4,8]{1,0}}

%fused_computation (param_0.1: f32[4,8]) -> f32[4,8] {
  %param_0.1 = f32[4,8]{1,0:T(4,128)} parameter(0)
  ROOT %exponential.1 = f32[4,8]{1,0:T(4,128)} exponential(f32[4,8]{1,0:T(4,128)} %param_0.1), metadata={op_name="jit(step)/jvp(FocusCLIP)/text_tower/exp"}
}

%body (p.1: (s32[], f32[2,2,4,4])) -> (s32[], f32[2,2,4,4]) {
  %p.1 = (s32[], /*index=1*/f32[2,2,4,4]{3,2,1,0}) parameter(0)
  %gte.1 = f32[2,2,4,4]{3,2,1,0} get-tuple-element((s32[], f32[2,2,4,4]{3,2,1,0}) %p.1), index=1
  %gte.0 = s32[] get-tuple-element((s32[], f32[2,2,4,4]{3,2,1,0}) %p.1), index=0
  %softmax.1 = f32[2,2,4,4]{3,2,1,0} fusion(f32[2,2,4,4]{3,2,1,0} %gte.1), kind=kLoop, calls=%fused_computation, metadata={op_name="jit(step)/jvp(FocusCLIP)/text_tower/encoder/block_0/attn/softmax"}
  ROOT %t.1 = (s32[], f32[2,2,4,4]{3,2,1,0}) tuple(s32[] %gte.0, f32[2,2,4,4]{3,2,1,0} %softmax.1)
}

%cond (p.2: (s32[], f32[2,2,4,4])) -> pred[] {
  %p.2 = (s32[], f32[2,2,4,4]{3,2,1,0}) parameter(0)
  %i.2 = s32[] get-tuple-element((s32[], f32[2,2,4,4]{3,2,1,0}) %p.2), index=0
  %c.2 = s32[] constant(3)
  ROOT %lt.2 = pred[] compare(s32[] %i.2, s32[] %c.2), direction=LT, metadata={op_name="jit(step)/while/lt"}
}

%true_branch (p.3: f32[4,8]) -> f32[4,8] {
  %p.3 = f32[4,8]{1,0} parameter(0)
  ROOT %neg.3 = f32[4,8]{1,0} negate(f32[4,8]{1,0} %p.3), metadata={op_name="jit(step)/cond/branch_1_fun/neg"}
}

%false_branch (p.4: f32[4,8]) -> f32[4,8] {
  %p.4 = f32[4,8]{1,0} parameter(0)
  ROOT %copy.4 = f32[4,8]{1,0} copy(f32[4,8]{1,0} %p.4)
}

%add (x: f32[], y: f32[]) -> f32[] {
  %x = f32[] parameter(0)
  %y = f32[] parameter(1)
  ROOT %s = f32[] add(f32[] %x, f32[] %y)
}

ENTRY %main.9 (Arg_0.1: f32[4,8], Arg_1.2: (s32[], f32[2,2,4,4]), Arg_2.3: pred[]) -> f32[4,8] {
  %Arg_0.1 = f32[4,8]{1,0} parameter(0), metadata={op_name="x"}
  %Arg_1.2 = (s32[], f32[2,2,4,4]{3,2,1,0}) parameter(1)
  %Arg_2.3 = pred[] parameter(2)
  %fusion.1 = f32[4,8]{1,0:T(4,128)} fusion(f32[4,8]{1,0} %Arg_0.1), kind=kLoop, calls=%fused_computation, metadata={op_name="jit(step)/jvp(FocusCLIP)/text_tower/exp"}
  %dot.2 = bf16[4,4]{1,0} dot(f32[4,8]{1,0:T(4,128)} %fusion.1, f32[4,8]{1,0} %Arg_0.1), lhs_contracting_dims={1}, rhs_contracting_dims={1}, metadata={op_name="jit(step)/transpose(jvp(FocusCLIP))/image_tower/dot_general"}
  %while.3 = (s32[], f32[2,2,4,4]{3,2,1,0}) while((s32[], f32[2,2,4,4]{3,2,1,0}) %Arg_1.2), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"3"}}
  %ar.4 = f32[4,8]{1,0} all-reduce(f32[4,8]{1,0} %fusion.1), replica_groups={{0,1}}, to_apply=%add, metadata={op_name="jit(step)/transpose(jvp())/psum"}
  %loss.5 = f32[4,8]{1,0} multiply(f32[4,8]{1,0} %ar.4, f32[4,8]{1,0} %ar.4), metadata={op_name="jit(step)/jvp()/mul"}
  ROOT %conditional.6 = f32[4,8]{1,0} conditional(pred[] %Arg_2.3, f32[4,8]{1,0} %loss.5, f32[4,8]{1,0} %loss.5), true_computation=%true_branch, false_computation=%false_branch, metadata={op_name="jit(step)/cond"}
}
"""


def test_hand_counted_module():
  """Every kernel's operands + result, dense sizes, by category (counted by hand below)."""
  r = hlo_bytes.bytes_by_category(HLO)
  m = 4 * 8 * 4  # an f32[4,8]: 128 bytes
  maps = 2 * 2 * 4 * 4 * 4  # an f32[2,2,4,4]: 256 bytes
  want = {
      "text tower": 2 * m,  # fusion.1 reads x, writes exp(x)
      "image tower": 2 * m + 4 * 4 * 2,  # dot.2 reads two f32[4,8], writes a bf16[4,4]
      "attention maps": 3 * 2 * maps,  # softmax.1 in the loop body, 3 trips
      "collectives": 2 * m,  # ar.4
      "projections, highlight and loss": 3 * m,  # loss.5: two reads, one write
      # The loop condition's compare (3 trips: two s32 reads, a pred write), both branches of
      # the conditional (an upper bound: 2 x 2 x 128), nothing for parameters, tuples, views.
      "optimizer and parameters": 3 * (4 + 4 + 1) + 2 * m,
      "unattributed": 2 * m,  # the false branch's copy names no JAX op
  }
  assert r["categories"] == pytest.approx(want)
  assert r["total"] == pytest.approx(sum(want.values()))
  assert r["largest"][0][:3] == (3 * 2 * maps, "fusion", "attention maps")


def test_head_projections_are_not_attention_maps():
  """Inside /attn/, the q/k/v/out projections' [batch, length, heads, head_dim] arrays are
  tower activations; the scores (and a fused kernel's reads and writes) are attention maps."""
  stack = "jit(step)/transpose(jvp(FocusCLIP))/text_tower/encoder/block_3/attn"
  proj = hlo_bytes.Instruction(
      f'%dot.1 = f32[2,512,12,64]{{3,2,1,0}} dot(f32[2,512,768]{{2,1,0}} %x, '
      f'f32[768,12,64]{{2,1,0}} %w), metadata={{op_name="{stack}/key/dot_general"}}')
  scores = hlo_bytes.Instruction(
      f'%dot.2 = f32[2,12,512,512]{{3,2,1,0}} dot(f32[2,512,12,64]{{3,2,1,0}} %q, '
      f'f32[2,512,12,64]{{3,2,1,0}} %k), metadata={{op_name="{stack}/dot_general"}}')
  kernel = hlo_bytes.Instruction(
      f'%cc.3 = bf16[1,12,512,64]{{3,2,1,0}} custom-call(bf16[1,12,512,64]{{3,2,1,0}} %q), '
      f'custom_call_target="tpu_custom_call", metadata={{op_name="{stack}/shard_map/flash"}}')
  assert hlo_bytes.category(proj, {}) == "text tower"
  assert hlo_bytes.category(scores, {}) == "attention maps"
  assert hlo_bytes.category(kernel, {}) == "attention maps"


def test_shapes_and_layouts():
  assert hlo_bytes.array_shapes("(f32[8,16]{1,0:T(8,128)S(1)}, /*index=1*/s32[], bf16[3])") == [
      ("f32", (8, 16)), ("s32", ()), ("bf16", (3,))]
  assert hlo_bytes.shape_bytes("(f32[8,16]{1,0}, s32[], bf16[3], pred[5])") == 512 + 4 + 6 + 5


def test_a_compiled_program_matches_xlas_own_count():
  """On a program XLA:CPU compiled here, the categories are where the named scopes put the
  ops, and the total agrees with cost_analysis()['bytes accessed'] (XLA counts the same
  operands and results; within 10%)."""

  def f(x, w):
    with jax.named_scope("text_tower"):
      h = jnp.tanh(x @ w)
      with jax.named_scope("attn"):
        q = h.reshape(4, 16, 2, 8).transpose(0, 2, 1, 3)
        p = jax.nn.softmax(jnp.einsum("bhqd,bhkd->bhqk", q, q), axis=-1)
        h = jnp.einsum("bhqk,bhkd->bhqd", p, q).transpose(0, 2, 1, 3).reshape(64, 16)
    return jnp.sum(h**2)

  x = jnp.ones((64, 32))
  w = jnp.ones((32, 16)) / 32
  compiled = jax.jit(jax.value_and_grad(f, argnums=1)).lower(x, w).compile()
  r = hlo_bytes.bytes_by_category(compiled.as_text())
  cost = compiled.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  assert r["categories"]["attention maps"] > 0 and r["categories"]["text tower"] > 0
  assert r["categories"]["image tower"] == 0
  assert r["total"] == pytest.approx(float(cost["bytes accessed"]), rel=0.1)


def test_memory_spaces_and_asynchronous_copies():
  """Arrays a TPU layout puts in VMEM (S(1)) are not HBM traffic; an async copy or slice into
  VMEM moves its payload once (read from HBM), whatever its result tuple aliases."""
  module = """HloModule m

ENTRY %main (p0: f32[64,8], p1: f32[16,8]) -> f32[16,8] {
  %p0 = f32[64,8]{1,0:T(8,128)} parameter(0)
  %p1 = f32[16,8]{1,0:T(8,128)} parameter(1)
  %copy-start.1 = (f32[16,8]{1,0:T(8,128)S(1)}, f32[16,8]{1,0:T(8,128)}, u32[]{:S(2)}) copy-start(f32[16,8]{1,0:T(8,128)} %p1)
  %copy-done.1 = f32[16,8]{1,0:T(8,128)S(1)} copy-done((f32[16,8]{1,0:T(8,128)S(1)}, f32[16,8]{1,0:T(8,128)}, u32[]{:S(2)}) %copy-start.1)
  %slice-start.2 = ((f32[64,8]{1,0:T(8,128)}), f32[16,8]{1,0:T(8,128)S(1)}, s32[]{:S(2)}) slice-start(f32[64,8]{1,0:T(8,128)} %p0), slice={[0:16], [0:8]}
  %slice-done.2 = f32[16,8]{1,0:T(8,128)S(1)} slice-done(%slice-start.2)
  %add.3 = f32[16,8]{1,0:T(8,128)S(1)} add(f32[16,8]{1,0:T(8,128)S(1)} %copy-done.1, f32[16,8]{1,0:T(8,128)S(1)} %slice-done.2), metadata={op_name="jit(f)/jvp()/add"}
  ROOT %mul.4 = f32[16,8]{1,0:T(8,128)} multiply(f32[16,8]{1,0:T(8,128)S(1)} %add.3, f32[16,8]{1,0:T(8,128)} %p1), metadata={op_name="jit(f)/jvp()/mul"}
}
"""
  a = 16 * 8 * 4  # one f32[16,8]: 512 bytes
  hbm = hlo_bytes.bytes_by_category(module)
  # copy-start and slice-start: one payload each, read from HBM into VMEM, charged to the add
  # that reads them; the add: all in VMEM; the multiply: reads p1 from HBM, writes to HBM.
  assert hbm["categories"]["projections, highlight and loss"] == 4 * a
  assert hbm["total"] == 4 * a
  every = hlo_bytes.bytes_by_category(module, hbm_only=False)
  # Every memory space: each async payload twice (read and write), the add 3 and the mul 3.
  assert every["total"] == 2 * 2 * a + 6 * a


def test_command_line_prints_the_table(tmp_path, capsys):
  path = tmp_path / "step.hlo"
  path.write_text(HLO)
  hlo_bytes.main([str(path)])
  out = capsys.readouterr().out
  assert f"{path}: 3.26e+03 B in HBM" in out  # the hand count of test_hand_counted_module
  assert "attention maps" in out and "1.54e+03 B" in out


def test_sparsecore_computations_are_parsed():
  """v4, v5p and v6e programs hold SparseCore computations closed by
  '}, execution_thread="sparsecore"' (the embedding gradient's scatter offload)."""
  module = """HloModule jit_step

%sc_body (p.1: f32[4]) -> f32[4] {
  %p.1 = f32[4]{0} parameter(0)
  ROOT %n.1 = f32[4]{0} negate(f32[4]{0} %p.1), metadata={op_name="jit(step)/jvp(FocusCLIP)/text_tower/neg"}
}, execution_thread="sparsecore"

ENTRY %main (a: f32[4]) -> f32[4] {
  %a = f32[4]{0} parameter(0)
  ROOT %e.2 = f32[4]{0} exponential(f32[4]{0} %a), metadata={op_name="jit(step)/jvp(FocusCLIP)/text_tower/exp"}
}
"""
  computations, entry = hlo_bytes.parse(module)
  assert entry == "main" and set(computations) == {"sc_body", "main"}
  assert [i.name for i in computations["main"]] == ["a", "e.2"]
  assert hlo_bytes.bytes_by_category(module)["categories"]["text tower"] == 32
