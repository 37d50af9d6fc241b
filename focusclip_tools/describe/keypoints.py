"""MPII record people as plain joint lists: what both describers (LLM prompt, geometry) read.

A record's person holds ``kpts`` (16 [x, y]) and optionally ``kpts_vis``; a joint counts as
visible when its flag is set and both coordinates are finite and >= 0 (MPII's -1 marks a
missing joint), so neither describer ever reasons about an unannotated joint.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from input_pipeline.mpii_joints import NUM_JOINTS


def joint_visible(xy, v) -> bool:
  """MPII: visibility flag set and both coordinates present (-1 marks a missing joint)."""
  x, y = float(xy[0]), float(xy[1])
  return v > 0 and math.isfinite(x) and math.isfinite(y) and x >= 0 and y >= 0


def person_arrays(person: Mapping[str, Any]) -> tuple[list[tuple[float, float]], list[int]]:
  """A record's person -> 16 (x, y) and 16 visibility flags (missing entries invisible)."""
  raw = list(person.get("kpts") or [])[:NUM_JOINTS]
  kpts = [(float(p[0]), float(p[1])) if p is not None and len(p) >= 2 else (-1.0, -1.0)
          for p in raw]
  kpts += [(-1.0, -1.0)] * (NUM_JOINTS - len(kpts))
  raw_vis = person.get("kpts_vis")
  if raw_vis is None:
    vis = [1] * NUM_JOINTS
  else:
    vis = [1 if float(v) > 0 else 0 for v in list(raw_vis)[:NUM_JOINTS]]
    vis += [0] * (NUM_JOINTS - len(vis))
  vis = [1 if joint_visible(k, v) else 0 for k, v in zip(kpts, vis)]
  return kpts, vis
