"""The helpers of the alternating benchmarks (benchmarks/side_by_side.py)."""

import pytest

from benchmarks import side_by_side


def test_pick_names_the_choices():
  assert side_by_side.pick("b,a,", {"a": 1, "b": 2}, "variants") == ["b", "a"]
  with pytest.raises(SystemExit, match=r"unknown variants \['c'\]; choose from \['a', 'b'\]"):
    side_by_side.pick("a,c", {"a": 1, "b": 2}, "variants")


def test_print_table(capsys):
  results = {"loop": {"pairs": [{"r": 5.05}, {"r": 5.764}], "median": 5.4},
             "unrolled": {"pairs": [{"r": 0.571}, {"r": 0.77}], "median": 0.67}}
  side_by_side.print_table("step", results, "r", "median", 2)
  assert capsys.readouterr().out.splitlines()[1:] == [
      "| step | pair 1 | pair 2 | median |", "|---|---:|---:|---:|",
      "| loop | 5.05 | 5.76 | **5.40** |", "| unrolled | 0.57 | 0.77 | **0.67** |"]
