"""Ahead-of-time compilation of the train step for a Cloud TPU topology on the CPU host.

benchmarks/aot_compile.py compiles the real step with libtpu's compiler for a topology from
``jax.experimental.topologies.get_topology_desc`` (no TPU attached). JAX_PLATFORMS=cpu, which
conftest.py sets, does not stop that (the topology loads libtpu as a compile-only plugin), but
the compile runs in a subprocess so that libtpu (its threads, flags and lockfile) and the
script's compile settings (XLA optimisations on, persistent cache off: compile-only TPU
executables cannot be read back from it) stay out of the shared pytest-xdist worker, and the
command line is tested end to end.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

LIBTPU_PIN = "libtpu==0.0.42.1"


def _aot_module():
  spec = importlib.util.spec_from_file_location("aot_compile", REPO / "benchmarks" /
                                                "aot_compile.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.slow
def test_aot_compile_tiny_train_step_for_tpu_v5e_2x2(tmp_path):
  if importlib.util.find_spec("libtpu") is None:
    # Not a skip: CI installs it (the TPU compiler; no TPU needed).
    pytest.fail(f"libtpu is not installed; AOT compilation for TPU needs it: "
                f"pip install {LIBTPU_PIN}  (the libtpu that jax[tpu]==0.10.2 pins)")
  out = tmp_path / "aot.json"
  proc = subprocess.run(
      [sys.executable, str(REPO / "benchmarks" / "aot_compile.py"), "--config=configs/tiny.py",
       "--topology=v5e:2x2", "--json", str(out)],
      capture_output=True, text=True, cwd=REPO, timeout=300, env=dict(os.environ))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  res = json.loads(out.read_text())
  assert res["num_chips"] == 4 and res["device_kind"] == "TPU v5 lite"
  mesh_devices = 1
  for n in res["mesh"].values():
    mesh_devices *= n
  assert mesh_devices == 4, res["mesh"]
  r = res["result"]
  assert r["batch"] == 8 and r["fits"] is True and not r["oom_at_compile"]
  assert r["flops_per_chip"] > 0 and r["flops_total"] == pytest.approx(4 * r["flops_per_chip"])
  mem = r["memory_bytes_per_chip"]
  assert mem["argument"] > 0 and mem["temp"] > 0 and mem["output"] > 0
  assert mem["peak"] == mem["argument"] + mem["output"] + mem["temp"] - mem["alias"] > 0
  assert "FITS" in proc.stdout and "FLOPs/step" in proc.stdout
  # The roofline: the larger of compute time at v5e's peak and HBM traffic at its bandwidth.
  rl = r["roofline"]
  compute, memory = r["flops_per_chip"] / 197e12, r["bytes_accessed_per_chip"] / 819e9
  assert rl["roofline_s"] == pytest.approx(max(compute, memory))
  assert rl["bound"] == ("memory" if memory > compute else "compute")
  assert r["matmul_precision"] == "default" and "roofline (a lower bound" in proc.stdout

  # --resume_json reuses the compile and re-derives "fits" (compiled = fits) from it: a JSON
  # written under the older rule (compiled *and* the sum within HBM) said False for programs
  # libtpu had placed.
  old = dict(res, results=[dict(r, fits=False)])
  (tmp_path / "old.json").write_text(json.dumps(old))
  out2 = tmp_path / "resumed.json"
  proc = subprocess.run(
      [sys.executable, str(REPO / "benchmarks" / "aot_compile.py"), "--config=configs/tiny.py",
       "--topology=v5e:2x2", "--resume_json", str(tmp_path / "old.json"), "--json", str(out2)],
      capture_output=True, text=True, cwd=REPO, timeout=300, env=dict(os.environ))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  assert "reusing 1 compiles" in proc.stdout
  resumed = json.loads(out2.read_text())
  assert resumed["result"]["fits"] is True
  assert resumed["result"]["compile_s"] == r["compile_s"]  # not compiled again


def test_roofline_hand_computed():
  spec = importlib.util.spec_from_file_location("roofline", REPO / "benchmarks" / "roofline.py")
  roofline = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(roofline)
  # A paper step measured on v5e:2x4: 2.03e12 FLOPs and 8.36e10 bytes per chip.
  r = roofline.estimate(2.03e12, 8.36e10, "v5e", optimal_seconds=-1.0, steps=29_000)
  assert r["compute_s"] == pytest.approx(2.03e12 / 197e12)  # 10.3 ms
  assert r["memory_s"] == pytest.approx(8.36e10 / 819e9)  # 102 ms
  assert r["bound"] == "memory" and r["roofline_s"] == r["memory_s"]
  assert r["optimal_s"] is None  # a negative compiler estimate is not reported as one
  assert r["projected_training_s"] == pytest.approx(29_000 * 8.36e10 / 819e9)
  assert roofline.estimate(1e15, 1e9, "v4")["bound"] == "compute"


def test_topology_names_and_max_batch_search():
  aot = _aot_module()
  for name, libtpu_name, chips, cfg, bounds in [
      ("v5e:2x4", "v5e:2x4", 8, "default", (2, 2, 1)),
      ("v5e-8", "v5e:2x4", 8, "default", (2, 2, 1)),
      ("v5litepod-4", "v5e:2x2", 4, "default", (2, 2, 1)),
      ("v5e:1x1", "v5e:1x1", 1, "default", (1, 1, 1)),
      ("v4:2x2x1", "v4:2x2x1", 4, "megacore", (2, 2, 1)),
      ("v4-8", "v4:2x2x1", 4, "megacore", (2, 2, 1)),
      ("v5p:2x2x1", "v5:2x2x1", 4, "megacore", (2, 2, 1)),
      ("v6e:2x2", "v6e:2x2", 4, "default", (2, 2, 1)),
  ]:
    t = aot.Topology(name)
    assert (t.libtpu_name, t.num_chips, t.chip_config, t.chips_per_host_bounds) == (
        libtpu_name, chips, cfg, bounds), name
  for bad in ("v5e:2x2x1", "v9:2x2", "tpu"):
    with pytest.raises(ValueError):
      aot.Topology(bad)

  # The search on a fake compiler with per-chip memory 2 GiB + 0.05 GiB per example (16 GiB
  # HBM): the largest multiple of 8 that fits is 280.
  class FakeCompiler:
    divisor = 8
    topology = aot.Topology("v5e:2x4")
    calls = []

    def compile(self, b):
      self.calls.append(b)
      used = int((2 + 0.05 * b) * aot.GIB)
      m = dict(peak=used, generated_code=0)
      return {"batch": b, "fits": used <= 16 * aot.GIB, "memory_bytes_per_chip": m,
              "oom_at_compile": False}

  fake = FakeCompiler()
  res = aot.find_max_batch(fake, 32, [], max_compiles=20, max_seconds=60, log=lambda _: None)
  assert (res["max_batch"], res["first_failing_batch"], res["exact"]) == (280, 288, True)
  assert len(fake.calls) <= 10, fake.calls


def test_max_batch_search_interpolates_from_the_oom_message():
  """libtpu's OOM message says how many GiB of temporaries a failing batch needed; the search
  interpolates between that and a fitting batch. On a fake compiler whose temporaries grow
  0.04 GiB per example and then, past batch 300, only 0.01 (the compiler rematerialises near
  the limit), with 15.75 GiB available: the largest multiple of 8 that fits is 568 (hand
  computed: 13 + 0.01 * 268 = 15.68 <= 15.75 < 15.76), found exactly, with fewer compiles than
  when the message carries no numbers (plain bisection)."""
  aot = _aot_module()

  def temporaries(b):
    return 1 + 0.04 * b if b <= 300 else 13 + 0.01 * (b - 300)

  class FakeCompiler:
    divisor = 8
    topology = aot.Topology("v5e:2x4")

    def __init__(self, numbers_in_message):
      self.calls, self.numbers = [], numbers_in_message

    def compile(self, b):
      self.calls.append(b)
      t = temporaries(b)
      if t > 15.75:
        msg = "RESOURCE_EXHAUSTED: Ran out of memory on HBM"
        r = {"batch": b, "fits": False, "oom_at_compile": True, "compile_s": 1.0, "error": msg}
        if self.numbers:
          r.update(oom_temporaries_gib=round(t, 2), available_hbm_gib=15.75)
        return r
      m = dict(temp=int(t * aot.GIB), peak=int((t + 0.2) * aot.GIB), generated_code=0)
      return {"batch": b, "fits": True, "memory_bytes_per_chip": m, "oom_at_compile": False}

  for start in (32, 416):
    calls = {}
    for numbers in (False, True):
      fake = FakeCompiler(numbers)
      res = aot.find_max_batch(fake, start, [], max_compiles=30, max_seconds=60,
                               log=lambda _: None)
      assert (res["max_batch"], res["first_failing_batch"], res["exact"]) == (568, 576, True)
      calls[numbers] = fake.calls
    assert len(calls[True]) < len(calls[False]), calls


def test_oom_message_numbers_are_read():
  aot = _aot_module()
  msg = ("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for HLO "
         "temporaries (17.22G) exceeds available HBM (15.75G).")
  assert aot.oom_numbers(msg) == {"oom_temporaries_gib": 17.22, "available_hbm_gib": 15.75}
  assert aot.oom_numbers("RESOURCE_EXHAUSTED: out of memory") == {}


@pytest.mark.slow
def test_fused_text_attention_compiles_for_tpu(tmp_path):
  """The Pallas flash-attention kernel (model.text.attention_kernel='pallas_tpu') inside the
  sharded train step, compiled by libtpu for v5e:2x2: Mosaic lowers it (tests on CPU run it in
  the interpreter) and the program names the kernel, not the 'xla' path's attention maps."""
  out, hlo = tmp_path / "aot.json", tmp_path / "step.hlo"
  proc = subprocess.run(
      [sys.executable, str(REPO / "benchmarks" / "aot_compile.py"), "--config=configs/tiny.py",
       "--topology=v5e:2x2", "--json", str(out), "--hlo_out", str(hlo), "--config_override",
       "model.text.max_length=128", "model.text.dropout=0.0",
       "model.text.attention_dropout=0.0", 'model.text.attention_kernel="pallas_tpu"'],
      capture_output=True, text=True, cwd=REPO, timeout=300, env=dict(os.environ))
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  r = json.loads(out.read_text())["result"]
  assert r["fits"] is True and r["fused_attention_kernel"] and r["flops_undercounted"]
  assert "backward FLOPs are not in XLA's count" in proc.stdout
  text = hlo.read_text()
  assert "tpu_custom_call" in text and "flash" in text
