"""FocusCLIP command line. Kept short: it parses flags and calls library functions that tests
and Colab call too.

  python main.py --config=configs/vitb16.py --mode=summary
  python main.py --config=configs/vitb16.py --workdir=/tmp/run [--config.train.batch_size=64]
"""

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (configs/*.py); override fields with --config.x=y.",
    lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for checkpoints and logs.")
_MODE = flags.DEFINE_enum("mode", "train", ["train", "eval", "summary"], "What to do.")

MODES_NEEDING_WORKDIR = ("train", "eval")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from focusclip_jax import config_lib  # pylint: disable=g-import-not-at-top
  config = config_lib.validate(_CONFIG.value)
  if _MODE.value in MODES_NEEDING_WORKDIR and not _WORKDIR.value:
    raise app.UsageError(f"--mode={_MODE.value} needs --workdir")
  if _MODE.value == "summary":
    from focusclip_jax import summary  # pylint: disable=g-import-not-at-top
    print(summary.summarize(config))
    return
  raise app.UsageError(
      f"--mode={_MODE.value} is not implemented yet (training and evaluation land with their "
      "issues); use --mode=summary.")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config"])
  app.run(main)
