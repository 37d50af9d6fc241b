"""`make experiment`'s pieces (focusclip_tools/experiment.py) without training: the three
variants' configs, and the table, JSON and plot from per-seed evaluation results."""

import numpy as np
import pytest
from PIL import Image

from focusclip_jax import compare
from focusclip_jax import config_lib
from focusclip_jax import results
from focusclip_jax import visualization
from focusclip_tools import experiment


def test_variants_differ_only_where_they_should(tmp_path):
  configs = {n: experiment.run_config(n, 1, str(tmp_path), 50) for n in experiment.VARIANTS}
  for c in configs.values():
    config_lib.validate(c)
    assert c.seed == 1 and c.train.num_steps == 50
  focus, clip, control = (configs[n] for n in ("FocusCLIP", "CLIP baseline", "heatmap control"))
  assert focus.model.focus.heatmap_source == "subject" and focus.model.focus.enabled
  assert control.model.focus.heatmap_source == "other_example"
  assert not clip.model.focus.enabled and len(clip.loss.terms) == 1
  control.model.focus.heatmap_source = "subject"
  assert control.to_dict() == focus.to_dict()  # everything else equal


def _hits_dir(path, task_hits):
  for task, hits in task_hits.items():
    results.write_json(results.result_record(
        dataset=task, model="m", checkpoint="c", metrics={"score": 100 * np.mean(hits)},
        classnames=["a"], prompts=[["a"]], k=1, task="t", protocol={}, num_examples=len(hits),
        extra={"example_hits": [int(h) for h in hits]}), str(path / f"{task}.json"))
  return compare.load_hits(str(path))


def test_summary_table_and_plot(tmp_path):
  rng = np.random.default_rng(0)
  truth = {"FocusCLIP": 0.8, "CLIP baseline": 0.5, "heatmap control": 0.5}
  hits = {n: [_hits_dir(tmp_path / f"{n}{s}".replace(" ", "_"),
                        {"stanford40": rng.random(200) < p})
              for s in range(3)] for n, p in truth.items()}
  summary = experiment.summarize(hits, labels={"stanford40": "activity"})
  assert list(summary["variants"]) == list(experiment.VARIANTS)
  (f_vs_c, f_vs_ctrl, ctrl_vs_c) = summary["comparisons"]
  assert f_vs_c["tasks"]["stanford40"]["verdict"].startswith("FocusCLIP is better")
  assert f_vs_ctrl["tasks"]["stanford40"]["difference"]["significant"]
  assert ctrl_vs_c["names"] == ["heatmap control", "CLIP baseline"]
  m = summary["variants"]["FocusCLIP"]["stanford40"]
  assert len(m["seeds"]) == 3 and m["mean"] == pytest.approx(np.mean(m["seeds"]))
  table = experiment.markdown(summary)
  assert "| activity | " in table and "FocusCLIP − heatmap control" in table
  png = visualization.seed_points_png(
      {"activity": {n: summary["variants"][n]["stanford40"]["seeds"] for n in hits}},
      str(tmp_path / "p.png"), chance={"activity": 30.0})
  with Image.open(png) as im:
    assert im.size[0] > 200
