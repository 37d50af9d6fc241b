"""Comparing two evaluated models (focusclip_jax/compare.py) from their per-example results."""

import json

import numpy as np
import pytest

from focusclip_jax import compare
from focusclip_jax import results


def _eval_dir(path, hits_by_task):
  path.mkdir(parents=True)
  for task, hits in hits_by_task.items():
    rec = results.result_record(
        dataset=task, model="m", checkpoint="c", metrics={"score": 100 * float(np.mean(hits))},
        classnames=["a", "b"], prompts=[["a"], ["b"]], k=1, task="t", protocol={},
        num_examples=len(hits), extra={"example_hits": [int(h) for h in hits]})
    results.write_json(rec, str(path / f"{task}.json"))
  (path / "summary.json").write_text(json.dumps({"scores": {}}))  # not a per-task record
  return str(path)


def test_clear_and_null_differences(tmp_path):
  rng = np.random.default_rng(0)
  base = (rng.random(300) < 0.5).astype(int)
  better = base.copy()
  better[np.flatnonzero(base == 0)[:60]] = 1
  same = base.copy()
  same[np.flatnonzero(base == 1)[:5]] = 0
  same[np.flatnonzero(base == 0)[:5]] = 1
  a = _eval_dir(tmp_path / "a", {"clear": better, "null": same})
  b = _eval_dir(tmp_path / "b", {"clear": base, "null": base})
  result = compare.main([a, b, "--names=Focus,Clip", f"--out={tmp_path / 'out'}"])
  clear, null = result["tasks"]["clear"], result["tasks"]["null"]
  assert clear["difference"]["mean"] == pytest.approx(20.0)
  assert clear["difference"]["significant"] and clear["verdict"].startswith("Focus is better")
  assert null["difference"]["mean"] == 0.0 and not null["difference"]["significant"]
  assert null["verdict"].startswith("no significant difference")
  assert clear["Focus"]["ci95"][0] < clear["Focus"]["mean"] < clear["Focus"]["ci95"][1]
  table = (tmp_path / "out" / "comparison.md").read_text()
  assert f"| clear | {100 * better.mean():.1f} [" in table and "| +20.0 [" in table
  assert json.loads((tmp_path / "out" / "comparison.json").read_text()) == result


def test_seeds_are_pooled_per_example(tmp_path):
  a1, a2 = np.array([1, 1, 0, 0, 1, 0]), np.array([1, 0, 0, 0, 1, 1])
  b1 = np.array([0, 1, 0, 0, 0, 0])
  groups = {"A": [compare.load_hits(_eval_dir(tmp_path / "a1", {"t": a1})),
                  compare.load_hits(_eval_dir(tmp_path / "a2", {"t": a2}))],
            "B": [compare.load_hits(_eval_dir(tmp_path / "b1", {"t": b1}))]}
  e = compare.compare_groups(groups, num_samples=500)["tasks"]["t"]
  assert e["A"]["seeds"] == pytest.approx([50.0, 50.0]) and e["A"]["std"] == 0.0
  assert e["difference"]["mean"] == pytest.approx(100 * (np.mean([a1, a2]) - b1.mean()))
  assert "± 0.0" in compare.markdown({"names": ["A", "B"], "tasks": {"t": e}})


def test_mismatched_or_missing_results_fail_clearly(tmp_path):
  a = _eval_dir(tmp_path / "a", {"t": np.ones(5, int)})
  b = _eval_dir(tmp_path / "b", {"t": np.ones(6, int)})
  with pytest.raises(ValueError, match="different test sets"):
    compare.compare_groups({"A": [compare.load_hits(a)], "B": [compare.load_hits(b)]})
  with pytest.raises(FileNotFoundError, match="--mode=eval"):
    compare.load_hits(str(tmp_path))
  old = tmp_path / "old"
  old.mkdir()
  (old / "t.json").write_text(json.dumps({"task": "zeroshot_classification", "dataset": "t"}))
  with pytest.raises(ValueError, match="evaluate the checkpoint again"):
    compare.load_hits(str(old))
