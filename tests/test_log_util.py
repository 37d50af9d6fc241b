"""Library log filtering (focusclip_jax/log_util.py): INFO chatter and known harmless warnings
of libraries are dropped; our own lines and every other warning stay."""

import logging

from focusclip_jax import log_util


def _record(pathname, level, msg, *args):
  return logging.LogRecord("absl", level, pathname, 1, msg, args, None)


def test_library_info_and_the_harmless_orbax_warning_are_dropped():
  keep = log_util._FILTER.filter  # pylint: disable=protected-access
  orbax = "/site-packages/orbax/checkpoint/_src/metadata/checkpoint.py"
  assert not keep(_record(orbax, logging.INFO, "Saving item"))
  assert not keep(_record(orbax, logging.WARNING, "Metadata file does not exist: %s", "/x"))
  assert keep(_record(orbax, logging.WARNING, "Something else is wrong: %s", "/x"))
  assert keep(_record(orbax, logging.ERROR, "Metadata file does not exist: %s", "/x"))
  ours = "/work/focusclip_jax/train.py"
  assert keep(_record(ours, logging.INFO, "Resuming from %s", "/x"))
  assert keep(_record(ours, logging.WARNING, "Metadata file does not exist: %s", "/x"))
