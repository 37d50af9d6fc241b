"""CUB-200-2011 (Caltech-UCSD Birds): zero-shot species classification, and bird heatmaps.

Not one of the paper's ten evaluations: the arXiv v1/v2 abstracts mention "+2.47% over CLIP on
zero-shot bird classification (CUB)" with no code, so the protocol here is our own
(docs/method.md §8 item 11): the **whole image** (no crop to ``bounding_boxes.txt``), the 200
classes in ``classes.txt`` order, one prompt per class, top-1.

Native layout (``CUB_200_2011.tgz`` from https://www.vision.caltech.edu/datasets/cub_200_2011/,
extracted; ``root`` is the ``CUB_200_2011`` folder)::

  images.txt                 <image_id> <class folder>/<file>.jpg
  classes.txt                <class_id> 001.Black_footed_Albatross
  image_class_labels.txt     <image_id> <class_id>
  train_test_split.txt       <image_id> <is_train>       (5,994 train, 5,794 test)
  bounding_boxes.txt         <image_id> <x> <y> <w> <h>   (unused by the classifier)
  images/<class folder>/<file>.jpg
  parts/parts.txt            <part_id> <part name>        (15 parts, see ``CUB_PARTS``)
  parts/part_locs.txt        <image_id> <part_id> <x> <y> <visible>

Class names: the number prefix is dropped and '_' becomes a space ("001.Black_footed_Albatross"
-> "Black footed Albatross"). Prompt: "a photo of a {name}, a type of bird." verbatim
(``fixed_grammar``: "an" before a vowel sound, e.g. "a photo of an American Crow, a type of
bird."). Task 'species', k = 1. Splits: 'test' (is_train == 0, the default), 'train', 'all'.

Bird heatmaps (FocusCLIP trained or fine-tuned on birds): ``load_part_locations`` reads the
15 part locations per image, ``bird_heatmap`` turns them into a [0, 1] map with the same
algorithm as the people's (``heatmaps.heatmap_from_groups``: per region with >= 2 visible
parts a peak-1 axis-aligned Gaussian at the centre of their box, sigma = half extent), over
the regions ``CUB_PART_GROUPS``:

  head        beak, crown, forehead, left eye, right eye, nape, throat
  body        back, belly, breast, nape
  left wing   left wing, back        right wing  right wing, back
  tail        tail, back
  left leg    left leg, belly        right leg   right leg, belly

Wings and tail are anchored on the back and legs on the belly (as MPII limbs are anchored on a
torso joint), so a visible wing tip draws a blob from the back to the tip. A region with
exactly one visible part (e.g. a wing seen from the front, back hidden) still gets a blob: a
round Gaussian at that part with sigma = ``single_frac`` x the larger side of the box of all
visible parts of the bird (floored at ``min_sigma``); ``single_frac=0`` restores the MPII rule
(regions with < 2 visible parts contribute nothing).
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from input_pipeline import heatmaps
from input_pipeline.eval_datasets.base import EvalDataset
from input_pipeline.eval_datasets.base import Example
from input_pipeline.eval_datasets.base import fill_template
from input_pipeline.eval_datasets.base import require

TEMPLATE = "a photo of a {c}, a type of bird."
SPLITS = ("test", "train", "all")

# CUB-200-2011 parts/parts.txt, part_id - 1 = index.
CUB_PARTS: tuple[str, ...] = (
    "back", "beak", "belly", "breast", "crown", "forehead", "left eye", "left leg",
    "left wing", "nape", "right eye", "right leg", "right wing", "tail", "throat",
)

_P = {name: i for i, name in enumerate(CUB_PARTS)}

# Body regions (name, part indices): see the module docstring.
CUB_PART_GROUPS: tuple[tuple[str, tuple[int, ...]], ...] = (
    ("head", tuple(_P[p] for p in ("beak", "crown", "forehead", "left eye", "right eye", "nape",
                                   "throat"))),
    ("body", tuple(_P[p] for p in ("back", "belly", "breast", "nape"))),
    ("left_wing", (_P["left wing"], _P["back"])),
    ("right_wing", (_P["right wing"], _P["back"])),
    ("tail", (_P["tail"], _P["back"])),
    ("left_leg", (_P["left leg"], _P["belly"])),
    ("right_leg", (_P["right leg"], _P["belly"])),
)

# The groups alone (what ``heatmaps.heatmap_from_groups`` takes).
cub_part_groups: tuple[tuple[int, ...], ...] = tuple(g for _, g in CUB_PART_GROUPS)

_HINT = ("Download CUB_200_2011.tgz (https://www.vision.caltech.edu/datasets/cub_200_2011/) and "
         "extract it so that images.txt, classes.txt, ... and images/ are directly in the "
         "dataset folder.")


def _read_table(path: str) -> list[list[str]]:
  with open(path, encoding="utf-8") as f:
    return [line.split() for line in f if line.strip()]


def class_name(folder_name: str) -> str:
  """'001.Black_footed_Albatross' -> 'Black footed Albatross'."""
  name = folder_name.split(".", 1)[1] if "." in folder_name else folder_name
  return name.replace("_", " ").strip()


def _article(name: str) -> str:
  low = name.lower()
  if low.startswith(("eu", "uni", "one")):
    return "a"
  return "an" if low[:1] in "aeiou" else "a"


def prompt(name: str, fixed_grammar: bool = False) -> str:
  text = fill_template(TEMPLATE, name)
  if fixed_grammar and _article(name) == "an":
    text = text.replace("a photo of a ", "a photo of an ", 1)
  return text


def _resolve_root(root: str) -> str:
  """The folder with images.txt: root itself, or root/CUB_200_2011 (the tarball's folder)."""
  nested = os.path.join(root, "CUB_200_2011")
  if not os.path.exists(os.path.join(root, "images.txt")) and os.path.exists(
      os.path.join(nested, "images.txt")):
    return nested
  return root


def cub200(root: str, *, split: str = "test", fixed_grammar: bool = False,
           paper_protocol: bool = False) -> EvalDataset:
  """CUB-200-2011 species, whole images; ``paper_protocol`` has no effect (no reference code)."""
  if split not in SPLITS:
    raise ValueError(f"cub: split must be one of {SPLITS}, got {split!r}")
  root = _resolve_root(root)
  files = {k: os.path.join(root, k) for k in (
      "images.txt", "classes.txt", "image_class_labels.txt", "train_test_split.txt")}
  require(list(files.values()) + [os.path.join(root, "images")], "cub", _HINT)

  classes = sorted(((int(r[0]), r[1]) for r in _read_table(files["classes.txt"])),
                   key=lambda r: r[0])
  ids = [c for c, _ in classes]
  if ids != list(range(1, len(ids) + 1)):
    raise ValueError(f"{files['classes.txt']}: class ids are not 1..{len(ids)}")
  classnames = [class_name(n) for _, n in classes]
  images = {int(r[0]): r[1] for r in _read_table(files["images.txt"])}
  labels = {int(r[0]): int(r[1]) - 1 for r in _read_table(files["image_class_labels.txt"])}
  is_train = {int(r[0]): int(r[1]) for r in _read_table(files["train_test_split.txt"])}

  examples, dropped = [], {"no_label": 0, "no_split": 0, "missing_image": 0}
  for image_id in sorted(images):
    if image_id not in labels:
      dropped["no_label"] += 1
      continue
    if image_id not in is_train:
      dropped["no_split"] += 1
      continue
    if split != "all" and is_train[image_id] != (split == "train"):
      continue
    path = os.path.join(root, "images", images[image_id])
    if not os.path.exists(path):
      dropped["missing_image"] += 1
      continue
    examples.append(Example(source=path, label=labels[image_id]))
  if not examples and dropped["missing_image"]:
    raise FileNotFoundError(f"cub: none of the {dropped['missing_image']} images of split "
                            f"{split!r} exist under {os.path.join(root, 'images')}. {_HINT}")
  return EvalDataset(
      name="cub", task="species", classnames=classnames,
      prompts=[[prompt(c, fixed_grammar)] for c in classnames], k=1, examples=examples,
      info={"split": split, "root": root, "num_examples": len(examples), "dropped": dropped,
            "crop": "none (whole image)", "template": TEMPLATE, "fixed_grammar": fixed_grammar,
            "paper_protocol": paper_protocol,
            "paper_protocol_note": "no reference code for CUB; protocol is ours"})


# ------------------------------------------------------------------------------- heatmaps


def load_part_locations(root: str) -> dict[int, tuple[np.ndarray, np.ndarray]]:
  """parts/part_locs.txt -> {image_id: (xy float32 [15, 2], vis int32 [15])}.

  Coordinates are CUB's, in pixels of the original image (invisible parts are (0, 0), vis 0).
  """
  root = _resolve_root(root)
  path = os.path.join(root, "parts", "part_locs.txt")
  require([path], "cub", _HINT)
  rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
  if rows.shape[1] != 5:
    raise ValueError(f"{path}: expected 5 columns (image_id part_id x y visible)")
  image_ids = rows[:, 0].astype(np.int64)
  part = rows[:, 1].astype(np.int64) - 1
  if part.min(initial=0) < 0 or part.max(initial=0) >= len(CUB_PARTS):
    raise ValueError(f"{path}: part ids outside 1..{len(CUB_PARTS)}")
  out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
  for image_id in np.unique(image_ids):
    out[int(image_id)] = (np.zeros((len(CUB_PARTS), 2), np.float32),
                          np.zeros(len(CUB_PARTS), np.int32))
  for image_id, p, x, y, v in zip(image_ids, part, rows[:, 2], rows[:, 3], rows[:, 4]):
    xy, vis = out[int(image_id)]
    xy[p] = (x, y)
    vis[p] = int(v > 0)
  return out


def bird_heatmap(part_xy, part_vis, height: int, width: int, *, min_sigma: float = 1.0,
                 single_frac: float = 0.1, src_hw: Sequence[int] | None = None,
                 groups: Sequence[Sequence[int]] = cub_part_groups) -> np.ndarray:
  """The union of a bird's region Gaussians on a height x width grid.

  Args:
    part_xy: float [15, 2] (x, y) part locations on the grid (or in ``src_hw`` pixels).
    part_vis: [15] visibility (> 0 = visible).
    height: grid height.
    width: grid width.
    min_sigma: floor of each sigma, in grid pixels.
    single_frac: sigma of a region with exactly one visible part, as a fraction of the larger
      side of the box of all the bird's visible parts (0: such regions draw nothing).
    src_hw: if given, part_xy are pixels of a src_h x src_w image, mapped to the grid with
      ``heatmaps.scale_keypoints`` (pixel-centre convention, as bilinear resizing).
    groups: the regions (default ``cub_part_groups``).

  Returns:
    float32 [height, width] in [0, 1]; zeros if no region has a visible part.
  """
  xy = np.asarray(part_xy, np.float64).reshape(-1, 2)
  vis = np.asarray(part_vis).reshape(-1) > 0
  if src_hw is not None:
    xy = heatmaps.scale_keypoints(xy, src_hw, (height, width))
  heat = heatmaps.heatmap_from_groups(xy[None], vis[None], groups, height, width,
                                      min_sigma=min_sigma)
  if single_frac > 0 and vis.sum() > 0:
    extent = float((xy[vis].max(0) - xy[vis].min(0)).max())
    s = max(single_frac * extent, min_sigma)
    lone = [g for g in groups if int(vis[list(g)].sum()) == 1]
    if lone:
      centres = np.stack([xy[[j for j in g if vis[j]][0]] for g in lone])   # [K, 2]
      pts = np.stack([centres - s, centres + s], axis=1)                    # [K, 2, 2]
      heat += heatmaps.heatmap_from_groups(pts, np.ones(pts.shape[:2]), ((0, 1),), height,
                                           width, min_sigma=min_sigma)
      np.clip(heat, 0.0, 1.0, out=heat)
  return heat
