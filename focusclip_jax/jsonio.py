"""Writing the JSON files the project produces (results, benchmarks, tool summaries).

Dependency-free so that the PyTorch reference benchmark and the offline tools can use it
without importing JAX. numpy and JAX scalars are written as floats.
"""

from __future__ import annotations

import json
import os
from typing import Any


def write_json(obj: Any, path: str, *, indent: int | None = 2) -> str:
  """Writes ``obj`` to ``path`` (creating its folder) and returns the path."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(obj, f, indent=indent, default=float)
  return path
