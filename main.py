"""FocusCLIP command line. Kept short: it parses flags and calls library functions that tests
and Colab call too.

  python main.py --config=configs/vitb16.py --workdir=/tmp/run            # train (resumes)
  python main.py --config=configs/vitb16.py --workdir=/tmp/run --mode=eval
  python main.py --config=configs/vitb16.py --mode=summary
  python main.py --config=configs/vitb16.py --workdir=... --config.train.batch_size=64
"""

import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (configs/*.py); override fields with --config.x=y.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and logs.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval", "summary"], "What to do.")
_DISTRIBUTED = flags.DEFINE_enum(
    "distributed", "auto", ["auto", "on", "off"],
    "jax.distributed.initialize(): auto = when coordinator flags are given or a multi-host "
    "TPU / SLURM / MPI job is detected.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "host:port of process 0 (GPU/CPU multi-process).")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "This process's index.")


CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


def missing_config_message(argv: list[str]) -> str | None:
  """What to say when the --config file does not exist (None when it does or is not given).

  Checked before absl parses the flags: ml_collections' own error is 'Failed loading config
  file config_config', raised while parsing --config.x=y overrides.
  """
  value = None
  for i, arg in enumerate(argv[1:], 1):
    if arg == "--":
      break
    if arg.startswith("--config="):
      value = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      value = argv[i + 1]
  if value is None:
    return None
  path = value.split(":", 1)[0]  # 'file.py:arg' passes arg to get_config()
  if os.path.isfile(path):
    return None
  shipped = sorted(f for f in os.listdir(CONFIGS_DIR) if f.endswith(".py") and f != "__init__.py")
  return (f"--config={value}: config file {os.path.abspath(path)} not found. The shipped "
          f"configs are in {CONFIGS_DIR}/ ({', '.join(shipped)}), e.g. --config=configs/tiny.py "
          "from the repository root.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  # The library is imported once the flags are parsed, and only the mode's modules: a usage
  # error or a missing --config is reported without first importing JAX and TensorFlow.
  from focusclip_jax import config_lib  # pylint: disable=g-import-not-at-top
  from focusclip_jax import distributed  # pylint: disable=g-import-not-at-top
  from focusclip_jax import log_util  # pylint: disable=g-import-not-at-top
  log_util.quiet_library_logs()
  config = config_lib.validate(_CONFIG.value)
  if _MODE.value == "summary":
    # Only this mode's modules (see above).
    from focusclip_jax import summary  # pylint: disable=g-import-not-at-top
    print(summary.summarize(config))
    return
  if not _WORKDIR.value:
    raise app.UsageError(f"--mode={_MODE.value} needs --workdir")
  distributed.apply_xla_flags(config.xla_flags)
  distributed.maybe_initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                               mode=_DISTRIBUTED.value)
  if _MODE.value == "train":
    # Only this mode's modules (see above).
    from focusclip_jax import train  # pylint: disable=g-import-not-at-top
    train.train_and_evaluate(config, _WORKDIR.value)
  else:
    # Only this mode's modules (see above).
    from focusclip_jax import evaluation  # pylint: disable=g-import-not-at-top
    summary = evaluation.evaluate_checkpoint(config, _WORKDIR.value)
    for name, m in summary.get("zeroshot", {}).items():
      print(f"{name:>16s}: acc@k {m['score']:6.2f}%  (chance {m['chance']:.2f}%)")
    for k, v in summary.get("retrieval", {}).items():
      print(f"{'retrieval':>16s}: {k} = {v:.2f}")
    print(f"Results in {summary['output_dir']}")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  message = missing_config_message(sys.argv)
  if message:
    sys.exit(f"FATAL: {message}")
  app.run(main)
