"""What a zero-shot evaluation dataset reader returns.

Each reader (one module per dataset, reading the dataset's native layout) returns an
``EvalDataset``: the examples (image source, crop box, label(s)), the class names in the
documented label-id order, the prompts of every class (list of strings per class; the
reference uses one template per dataset, CuPL-style JSON gives several), the k of the paper's
top-k metric, and ``info`` (split, protocol switches, rows dropped and why).

Images are loaded lazily by ``EvalDataset.load_image(example)``: RGB uint8 [H, W, 3] with the
dataset's crop rule applied (docs/method.md §6.1), at native resolution; the evaluator resizes
them to the model's input exactly as in training (PIL bilinear squash).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image

TASKS = ("action", "age", "emotion", "race", "species")


@dataclasses.dataclass(frozen=True)
class Example:
  """One image to classify.

  source: an image path, or an int index into ``EvalDataset.arrays`` (in-memory images).
  label: the label the paper scores (for multi-label data: the first of ``labels``).
  labels: every correct label (multi-label datasets); defaults to (label,).
  box: optional crop [x1, y1, x2, y2] in pixels of the image (clipped to the image).
  """

  source: str | int
  label: int
  labels: tuple[int, ...] = ()
  box: tuple[float, float, float, float] | None = None

  @property
  def all_labels(self) -> tuple[int, ...]:
    return self.labels or (self.label,)


def fill_template(template: str, name: str) -> str:
  return template.replace("{}", name) if "{}" in template else template.format(c=name)


@dataclasses.dataclass
class EvalDataset:
  name: str  # e.g. 'stanford40'
  task: str  # one of TASKS
  classnames: list[str]  # in label-id order
  prompts: list[list[str]]  # per class, one or more prompts
  k: int  # top-k of the paper's metric for this dataset
  examples: list[Example]
  arrays: np.ndarray | None = None  # in-memory images for int sources (e.g. FER2013)
  multilabel: bool = False
  info: dict[str, Any] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if len(self.prompts) != len(self.classnames):
      raise ValueError(f"{self.name}: {len(self.prompts)} prompt lists for "
                       f"{len(self.classnames)} classes")
    if self.task not in TASKS:
      raise ValueError(f"{self.name}: task {self.task!r} not in {TASKS}")

  @property
  def num_classes(self) -> int:
    return len(self.classnames)

  def labels(self) -> np.ndarray:
    return np.asarray([ex.label for ex in self.examples], np.int64)

  def load_image(self, ex: Example) -> np.ndarray:
    """RGB uint8 [H, W, 3], cropped to ``ex.box`` when given."""
    if isinstance(ex.source, (int, np.integer)):
      img = np.asarray(self.arrays[int(ex.source)])
      if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
      elif img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
      img = img.astype(np.uint8)
    else:
      with Image.open(ex.source) as im:
        img = np.asarray(im.convert("RGB"))
    if ex.box is not None:
      h, w = img.shape[:2]
      x1, y1, x2, y2 = ex.box
      x1, y1 = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
      x2, y2 = int(min(w, np.ceil(x2))), int(min(h, np.ceil(y2)))
      if x2 > x1 and y2 > y1:
        img = img[y1:y2, x1:x2]
    return img

  def with_class_prompts(self, class_prompts: dict[str, Sequence[str]]) -> "EvalDataset":
    """Replaces the prompts by CuPL-style {class name: [sentences]} (missing classes keep theirs)."""
    prompts = [list(class_prompts.get(c, p)) for c, p in zip(self.classnames, self.prompts)]
    return dataclasses.replace(self, prompts=prompts,
                               info=dict(self.info, custom_prompts=True))


def load_class_prompts(path: str, dataset: str | None = None) -> dict[str, list[str]]:
  """A CuPL JSON ({class: [sentences]}) or a CLIP_benchmark one ({dataset: {class: [...]}})."""
  with open(path, encoding="utf-8") as f:
    data = json.load(f)
  if dataset is not None and dataset in data and isinstance(data[dataset], dict):
    data = data[dataset]
  out = {}
  for k, v in data.items():
    if isinstance(v, str):
      v = [v]
    if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
      raise ValueError(f"{path}: class {k!r} must map to a list of sentences")
    out[k] = v
  return out


def require(paths: Sequence[str], dataset: str, hint: str) -> None:
  """Raises FileNotFoundError listing every missing path of a dataset, with a hint."""
  missing = [p for p in paths if not os.path.exists(p)]
  if missing:
    raise FileNotFoundError(f"{dataset}: missing " + ", ".join(missing) + f". {hint}")


Reader = Callable[..., EvalDataset]
