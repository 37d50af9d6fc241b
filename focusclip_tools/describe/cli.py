r"""Fills the ``description`` field of a JSON list of MPII Pose Descriptions records.

  python -m focusclip_tools.describe.cli --annotations=IN.json --out=OUT.json \
      (--client=module:function | --geometry) [--limit=N] [--overwrite]

``module:function`` is called without arguments and must return a ``Client``, e.g.
``--client=focusclip_tools.describe.llm_prompt:openai_client`` (reads ``OPENAI_API_KEY``).
``--geometry`` uses the offline keypoint-geometry describer. The output is rewritten
atomically every ``--save_every`` records and on exit, failures leave the record untouched and
are listed in the summary, so rerunning with ``--annotations=OUT.json`` resumes.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from typing import Any, Callable, Mapping, Sequence

from focusclip_tools.describe.geometry import describe_record
from focusclip_tools.describe.llm_prompt import Client
from focusclip_tools.describe.llm_prompt import describe_with_llm
from focusclip_tools.describe.llm_prompt import json_default
from input_pipeline.mpii_pose_descriptions.records import load_records


def has_description(record: Mapping[str, Any]) -> bool:
  d = record.get("description")
  if isinstance(d, (list, tuple)):
    return any(isinstance(x, str) and x.strip() for x in d)
  return isinstance(d, str) and bool(d.strip())


def fill_descriptions(records: Sequence[Mapping[str, Any]],
                      describe_fn: Callable[[Mapping[str, Any]], str], *,
                      overwrite: bool = False, limit: int | None = None,
                      progress: Callable[[int, list, dict], None] | None = None,
                      ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
  """Fills ``description`` of every record that lacks one (all with ``overwrite``).

  Args:
    records: MPII Pose Descriptions records (not modified; shallow copies are returned).
    describe_fn: record -> description (e.g. ``describe_record`` or a ``describe_with_llm``
      closure). An exception or empty text leaves the record as it was and counts as failed.
    overwrite: also redo records that already have a description.
    limit: describe at most this many records; the rest count as ``pending``.
    progress: called as ``progress(index, records, stats)`` after each attempted record
      (the CLI uses it to save and report).

  Returns:
    (records, stats) with stats = {total, filled, skipped, failed, pending, failures: [{index,
    image, error}]}.
  """
  out = [dict(r) for r in records]
  stats: dict[str, Any] = {"total": len(out), "filled": 0, "skipped": 0, "failed": 0,
                           "pending": 0, "failures": []}
  attempted = 0
  for i, rec in enumerate(out):
    if not overwrite and has_description(rec):
      stats["skipped"] += 1
      continue
    if limit is not None and attempted >= limit:
      stats["pending"] += 1
      continue
    attempted += 1
    try:
      text = describe_fn(rec)
      if not isinstance(text, str) or not text.strip():
        raise ValueError(f"empty or non-text description: {text!r:.80}")
    except Exception as e:  # pylint: disable=broad-except
      stats["failed"] += 1
      stats["failures"].append({"index": i, "image": rec.get("image"),
                                "error": f"{type(e).__name__}: {e}"})
      logging.warning("No description for record %d (%s): %s: %s", i, rec.get("image"),
                      type(e).__name__, e)
    else:
      rec["description"] = text.strip()
      stats["filled"] += 1
    if progress is not None:
      progress(i, out, stats)
  return out, stats


def load_client(spec: str) -> Client:
  """"package.module:function" -> function() (a Client factory called without arguments)."""
  module_name, sep, attr = spec.partition(":")
  if not sep or not module_name or not attr:
    raise ValueError(f"--client must look like module:function, got {spec!r}")
  factory = getattr(importlib.import_module(module_name), attr)
  client = factory()
  if not callable(client):
    raise TypeError(f"{spec}() returned {type(client).__name__}, not a callable Client")
  return client


def _write_json_atomic(path: str, records: list) -> None:
  tmp = f"{path}.tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    json.dump(records, f, ensure_ascii=False, default=json_default)
  os.replace(tmp, path)


def _parse_args(argv):
  parser = argparse.ArgumentParser(
      prog="python -m focusclip_tools.describe.cli",
      description="Fill the 'description' field of MPII Pose Descriptions records.")
  parser.add_argument("--annotations", required=True, help="input JSON list of records")
  parser.add_argument("--out", required=True, help="output JSON (may equal --annotations)")
  how = parser.add_mutually_exclusive_group(required=True)
  how.add_argument("--client", help="module:function returning a Client (LLM prompting)")
  how.add_argument("--geometry", action="store_true",
                   help="use the offline keypoint-geometry describer")
  parser.add_argument("--limit", type=int, default=None,
                      help="describe at most N records (others are left as they are)")
  parser.add_argument("--overwrite", action="store_true",
                      help="also redo records that already have a description")
  parser.add_argument("--retries", type=int, default=3, help="LLM tries per record")
  parser.add_argument("--backoff", type=float, default=2.0,
                      help="seconds * try to wait between LLM tries")
  parser.add_argument("--save_every", type=int, default=10,
                      help="rewrite --out after this many attempted records")
  return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
  """CLI; returns 0 when every attempted record was described, 1 when some failed."""
  args = _parse_args(argv)
  records = load_records(args.annotations)
  if args.geometry:
    describe_fn = describe_record
    source = "geometry"
  else:
    client = load_client(args.client)
    source = args.client

    def describe_fn(record):
      return describe_with_llm(record, client, retries=args.retries, backoff_s=args.backoff)

  print(f"[descriptions] {len(records)} records from {args.annotations}; describer: {source}",
        file=sys.stderr)
  state = {"records": [dict(r) for r in records], "attempted": 0}

  def progress(i, current, stats):
    state["records"] = current
    state["attempted"] += 1
    if state["attempted"] % max(1, args.save_every) == 0:
      _write_json_atomic(args.out, current)
      print(f"[descriptions] record {i + 1}/{stats['total']}: filled {stats['filled']}, "
            f"skipped {stats['skipped']}, failed {stats['failed']} (saved {args.out})",
            file=sys.stderr)

  stats = None
  try:
    _, stats = fill_descriptions(records, describe_fn, overwrite=args.overwrite,
                                 limit=args.limit, progress=progress)
  finally:  # also on KeyboardInterrupt: keep every description written so far
    _write_json_atomic(args.out, state["records"])
  # A run that attempted nothing never called progress(): state holds the unchanged copies.
  summary = (f"[descriptions] done: {stats['total']} records, filled {stats['filled']}, "
             f"skipped {stats['skipped']} (already described), failed {stats['failed']}, "
             f"pending {stats['pending']} (--limit); wrote {args.out}")
  print(summary)
  for f in stats["failures"]:
    print(f"  failed: record {f['index']} ({f['image']}): {f['error']}")
  return 1 if stats["failed"] else 0


if __name__ == "__main__":
  logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
  sys.exit(main())
