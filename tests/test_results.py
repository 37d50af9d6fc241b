"""The paper's averaging schemes, result records and tables."""

import json

import pytest

from focusclip_jax import results


def test_paper_table_reproduces_the_abstracts():
  focus = results.PAPER_TABLE["FocusCLIP (paper)"]
  clip = results.PAPER_TABLE["CLIP (paper)"]
  assert results.task_averages(focus, "three_task")["overall"] == pytest.approx(33.65, abs=0.01)
  assert results.task_averages(clip, "three_task")["overall"] == pytest.approx(25.04, abs=0.01)
  assert results.task_averages(focus, "four_task")["overall"] == pytest.approx(30.52, abs=0.01)
  assert results.task_averages(clip, "four_task")["overall"] == pytest.approx(24.54, abs=0.01)
  # The abstract's per-task gains (+3.98 activity, +14.78 age, +7.06 emotion).
  f3, c3 = results.task_averages(focus), results.task_averages(clip)
  assert f3["activity"] - c3["activity"] == pytest.approx(3.98, abs=0.01)
  assert f3["age"] - c3["age"] == pytest.approx(14.79, abs=0.01)
  assert f3["emotion"] - c3["emotion"] == pytest.approx(7.065, abs=0.01)


def test_missing_datasets_give_nan_not_a_wrong_average():
  avg = results.task_averages({"stanford40": 50.0}, "three_task")
  assert avg["activity"] == 50.0
  assert avg["overall"] != avg["overall"]  # NaN


def test_markdown_table():
  table = results.markdown_table({"a": {"stanford40": 12.345, "fer2013": 50.0}},
                                 datasets=["stanford40", "fer2013"])
  lines = table.splitlines()
  assert lines[0] == "| run | Stanford40 | FER13 | 3-task avg | 4-task avg |"
  assert lines[2] == "| a | 12.35 | 50.00 | – | – |"


def test_result_record_round_trip(tmp_path):
  rec = results.result_record(dataset="fer2013", model="m", checkpoint="ck", metrics={"acc3": 1},
                              classnames=["a"], prompts=[["p"]], k=3, task="emotion",
                              protocol={"fixed_grammar": False}, num_examples=1)
  path = results.write_json(rec, str(tmp_path / "x" / "r.json"))
  back = json.loads(open(path).read())
  assert back["dataset"] == "fer2013" and back["task"] == "zeroshot_classification"
  assert back["prompts"] == [["p"]] and back["protocol"] == {"fixed_grammar": False}
