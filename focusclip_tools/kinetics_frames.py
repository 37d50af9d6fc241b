r"""Extracts one frame per annotated Kinetics clip: the layout ``kinetics.py`` reads.

  python -m focusclip_tools.kinetics_frames --videos=DIR --annotations=FILE \
      --out=ROOT [--split=test] [--subset=test] [--workers=8] [--overwrite]

``--annotations`` is either distributed format of the clip list (see ``kinetics.py``): the
ActivityNet-style JSON (``{ytid: {"annotations": {"label", "segment": [start, end]},
"subset"}}``, with or without a ``"database"`` wrapper) or the CSV of the CVDF mirror
(``k400/annotations/test.csv``: ``label,youtube_id,time_start,time_end,split``), told apart by
the ``.csv`` extension. For every clip whose video is found under ``--videos`` (searched
recursively, e.g. the mirror's extracted ``k400/test/``), writes the
**middle frame of the annotated segment**, at ``(start + end) / 2`` seconds, as
``ROOT/images/<split>/<label>/<ytid>_<start:06d>_<end:06d>.jpg`` (start and end truncated to
integer seconds, as the reference names them). The reference's extraction rule is unknown;
the middle frame is docs/method.md §8 item 7's best reading. The frame is the one on screen at
that time: the last frame whose timestamp is <= the target.

Videos are matched by name, in this order: ``<ytid>_<start:06d>_<end:06d>.*`` (a clip already
trimmed to the segment, as the official downloaders and the CVDF tarballs name them; its
middle is at ``(end - start) / 2`` into the file), ``<ytid>.*`` (the full YouTube video), then
any file whose name starts with ``<ytid>``. A full-length name whose video is shorter than the
segment's middle is taken to be a trimmed clip. Any container PyAV opens is accepted.

Prints the number of frames written, already present (skipped unless ``--overwrite``), clips
whose video is missing, and failures (with reasons). ``--subset`` keeps only the entries whose
``subset`` (JSON) or ``split`` column (CSV) is that split (default: every entry of the file).
"""

from __future__ import annotations

import argparse
import bisect
import concurrent.futures
import json
import os
import re
from typing import Any, Mapping

from input_pipeline.eval_datasets import kinetics

_TRIMMED_RE = re.compile(r"^(.+)_(\d{6})_(\d{6})$")
_NOT_VIDEO = (".json", ".txt", ".csv", ".jpg", ".jpeg", ".png", ".part", ".ytdl", ".tmp")
# A target more than this many seconds past the last frame is an error, not rounding.
_END_TOLERANCE_S = 1.0


def index_videos(videos_dir: str) -> tuple[dict[str, list[str]], list[str]]:
  """({stem: [paths]}, sorted stems) of every file under ``videos_dir`` (recursively)."""
  by_stem: dict[str, list[str]] = {}
  for dirpath, _, files in os.walk(videos_dir):
    for name in files:
      if name.startswith(".") or name.lower().endswith(_NOT_VIDEO):
        continue
      stem = os.path.splitext(name)[0]
      by_stem.setdefault(stem, []).append(os.path.join(dirpath, name))
  for paths in by_stem.values():
    paths.sort()
  return by_stem, sorted(by_stem)


def find_videos(by_stem: Mapping[str, list[str]], stems: list[str], ytid: str, start: float,
                end: float) -> list[str]:
  """Candidate video files of a clip, best first (see the module docstring)."""
  out = list(by_stem.get(f"{ytid}_{int(start):06d}_{int(end):06d}", []))
  out += by_stem.get(ytid, [])
  i = bisect.bisect_left(stems, ytid)
  while i < len(stems) and stems[i].startswith(ytid):
    out += [p for p in by_stem[stems[i]] if p not in out]
    i += 1
  return out


def middle_frame(path: str, start: float, end: float):
  """The PIL image on screen at the middle of segment [start, end] of video ``path``.

  Returns:
    (image, note): note is 'trimmed' when the file was taken to be the trimmed clip.
  Raises:
    ValueError when the video has no frame at that time.
  """
  # PyAV is optional (only this tool decodes video): imported here, not at the top.
  import av  # pylint: disable=g-import-not-at-top  (optional: video decoding)
  middle = (start + end) / 2.0
  stem = os.path.splitext(os.path.basename(path))[0]
  m = _TRIMMED_RE.match(stem)
  with av.open(path) as container:
    if not container.streams.video:
      raise ValueError("no video stream")
    stream = container.streams.video[0]
    tb = stream.time_base
    origin = float(stream.start_time * tb) if stream.start_time is not None else 0.0
    if stream.duration is not None:
      duration = float(stream.duration * tb)
    elif container.duration is not None:
      duration = container.duration / 1e6
    else:
      duration = None
    note = "full"
    if m:  # A clip trimmed to [m.start, m.end] of the original video.
      t = max(0.0, middle - int(m.group(2)))
      note = "trimmed"
    elif duration is not None and duration < middle:
      t = (end - start) / 2.0
      note = "trimmed"
    else:
      t = middle
    target = origin + t
    container.seek(max(0, int(target / tb)), stream=stream, backward=True, any_frame=False)
    chosen, chosen_time = None, None
    for frame in container.decode(stream):
      ft = float(frame.time) if frame.time is not None else None
      if chosen is None or (ft is not None and ft <= target + 1e-6):
        chosen, chosen_time = frame, ft
      if ft is not None and ft > target + 1e-6:
        break
    if chosen is None:
      raise ValueError("no frame decoded")
    if chosen_time is not None and chosen_time + _END_TOLERANCE_S < target:
      raise ValueError(f"video ends at ~{chosen_time:.2f}s, before the segment middle "
                       f"{target:.2f}s")
    return chosen.to_image().convert("RGB"), note


def _extract_one(job: tuple[str, str, float, float, list[str], str]) -> tuple[str, str, str]:
  """(ytid, status, detail) with status in written / failed."""
  ytid, _, start, end, candidates, out_path = job
  errors = []
  for path in candidates:
    try:
      image, note = middle_frame(path, start, end)
    except Exception as e:  # pylint: disable=broad-except
      errors.append(f"{os.path.basename(path)}: {type(e).__name__}: {e}")
      continue
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    tmp = out_path + ".tmp"
    image.save(tmp, format="JPEG", quality=95)
    os.replace(tmp, out_path)
    return ytid, "written", note
  return ytid, "failed", "; ".join(errors)


def extract_middle_frames(videos_dir: str, annotations: str | Mapping[str, Any], out_root: str,
                          split: str = "test", *, subset: str | None = None,
                          overwrite: bool = False, workers: int = 1,
                          verbose: bool = False) -> dict[str, Any]:
  """Writes the middle frame of every annotated clip with a video; see the module docstring.

  Args:
    videos_dir: folder holding the videos (searched recursively).
    annotations: path of the annotation JSON or CSV, or the loaded JSON content.
    out_root: the Kinetics dataset folder; frames go to ``out_root/images/<split>/``.
    split: the split folder name written.
    subset: keep only entries of this split (``subset`` / ``split`` column; None: all).
    overwrite: rewrite frames that already exist.
    workers: decoding processes (1: in this process).
    verbose: print progress every 1000 clips.

  Returns:
    {"clips", "written", "existing", "missing", "failed", "trimmed", "failures": [(ytid,
    reason)], "missing_examples": [first 20 ytids without a video], "images_dir"}.
  """
  if not os.path.isdir(videos_dir):
    raise FileNotFoundError(f"kinetics_frames: videos folder {videos_dir} does not exist")
  if isinstance(annotations, str):
    if not os.path.isfile(annotations):
      raise FileNotFoundError(f"kinetics_frames: annotation file {annotations} does not exist")
    clips = kinetics.load_annotations(annotations, subset)
  else:
    clips = kinetics.parse_annotations(annotations, subset)
  by_stem, stems = index_videos(videos_dir)
  images_dir = os.path.join(out_root, "images", split)
  result: dict[str, Any] = {"clips": len(clips), "written": 0, "existing": 0, "missing": 0,
                            "failed": 0, "trimmed": 0, "failures": [],
                            "missing_examples": [], "images_dir": images_dir}
  jobs = []
  for ytid, clip in sorted(clips.items()):
    start, end = clip["segment"]
    out_path = os.path.join(images_dir, clip["label"], kinetics.frame_name(ytid, start, end))
    if os.path.exists(out_path) and not overwrite:
      result["existing"] += 1
      continue
    candidates = find_videos(by_stem, stems, ytid, start, end)
    if not candidates:
      result["missing"] += 1
      if len(result["missing_examples"]) < 20:
        result["missing_examples"].append(ytid)
      continue
    jobs.append((ytid, clip["label"], start, end, candidates, out_path))

  def record(done: int, outcome: tuple[str, str, str]):
    ytid, status, detail = outcome
    result[status] += 1
    if status == "failed":
      result["failures"].append((ytid, detail))
    elif detail == "trimmed":
      result["trimmed"] += 1
    if verbose and done % 1000 == 0:
      print(f"  {done}/{len(jobs)} clips: {result['written']} written, "
            f"{result['failed']} failed", flush=True)

  if workers > 1 and len(jobs) > 1:
    with concurrent.futures.ProcessPoolExecutor(workers) as pool:
      for done, outcome in enumerate(pool.map(_extract_one, jobs, chunksize=16), 1):
        record(done, outcome)
  else:
    for done, job in enumerate(jobs, 1):
      record(done, _extract_one(job))
  return result


def main(argv: list[str] | None = None) -> dict[str, Any]:
  parser = argparse.ArgumentParser(
      prog="python -m focusclip_tools.kinetics_frames",
      description="Middle frame of every annotated Kinetics clip -> images/<split>/<label>/.")
  parser.add_argument("--videos", required=True, help="Folder of the videos (recursive).")
  parser.add_argument("--annotations", required=True,
                      help="ActivityNet-style JSON, or CSV (label,youtube_id,time_start,"
                           "time_end,split).")
  parser.add_argument("--out", required=True, help="Kinetics dataset folder (ROOT).")
  parser.add_argument("--split", default="test", help="Split folder name (default: test).")
  parser.add_argument("--subset", default=None,
                      help="Keep only entries of this subset (default: all entries).")
  parser.add_argument("--workers", type=int, default=1, help="Decoding processes.")
  parser.add_argument("--overwrite", action="store_true", help="Rewrite existing frames.")
  args = parser.parse_args(argv)
  result = extract_middle_frames(args.videos, args.annotations, args.out, args.split,
                                 subset=args.subset, overwrite=args.overwrite,
                                 workers=args.workers, verbose=True)
  print(f"{result['clips']} annotated clips -> {result['images_dir']}: "
        f"{result['written']} written ({result['trimmed']} from trimmed clips), "
        f"{result['existing']} already present, {result['missing']} without a video, "
        f"{result['failed']} failed")
  if result["missing_examples"]:
    print("  no video for e.g.: " + ", ".join(result["missing_examples"]))
  for ytid, reason in result["failures"][:20]:
    print(f"  failed {ytid}: {reason}")
  print(json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}))
  return result


if __name__ == "__main__":
  main()
