"""Logging set-up: keep our INFO lines readable by dropping the INFO chatter of libraries."""

from __future__ import annotations

import logging

_QUIET_PATHS = ("/orbax/", "/jax/_src/", "/tensorflow/", "/tensorflow_datasets/", "/absl/")


class _DropLibraryInfo(logging.Filter):
  def filter(self, record: logging.LogRecord) -> bool:
    if record.levelno >= logging.WARNING:
      return True
    return not any(p in record.pathname for p in _QUIET_PATHS)


_FILTER = _DropLibraryInfo()


def quiet_library_logs() -> None:
  """Hides INFO/DEBUG records emitted from Orbax, JAX, TF and TFDS (warnings still show)."""
  for handler in logging.getLogger().handlers + logging.getLogger("absl").handlers:
    if _FILTER not in handler.filters:
      handler.addFilter(_FILTER)
  logger = logging.getLogger("absl")
  if _FILTER not in logger.filters:
    logger.addFilter(_FILTER)
