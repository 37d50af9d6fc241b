"""Logging set-up: keep our INFO lines readable by dropping the INFO chatter of libraries."""

from __future__ import annotations

import logging

_QUIET_PATHS = ("/orbax/", "/jax/_src/", "/tensorflow/", "/tensorflow_datasets/", "/absl/")


# Library warnings a user can do nothing about. Orbax looks for a step-level metadata file
# inside the item folder when a checkpoint item is read directly (load_for_inference reads
# <step>/state); the checkpoint is complete and restores exactly.
_HARMLESS_WARNINGS = ("Metadata file does not exist: ",)


class _DropLibraryInfo(logging.Filter):
  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.WARNING:
      return not (record.levelno == logging.WARNING and
                  any(p in record.pathname for p in _QUIET_PATHS) and
                  any(str(record.msg).startswith(w) for w in _HARMLESS_WARNINGS))
    return not any(p in record.pathname for p in _QUIET_PATHS)


_FILTER = _DropLibraryInfo()


def quiet_library_logs() -> None:
  """Hides INFO/DEBUG records emitted from Orbax, JAX, TF and TFDS, and their known harmless
  warnings (other warnings still show)."""
  for handler in logging.getLogger().handlers + logging.getLogger("absl").handlers:
    if _FILTER not in handler.filters:
      handler.addFilter(_FILTER)
  logger = logging.getLogger("absl")
  if _FILTER not in logger.filters:
    logger.addFilter(_FILTER)
