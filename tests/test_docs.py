"""docs/method.md: every citation of it resolves, and its switch tables match config_lib.

Pure text (plus the config schema): no JAX computation, runs in well under a second.
"""

import ast
import os
import re
import subprocess

import pytest

from focusclip_jax import config_lib
from tests.helpers import REPO

METHOD = "docs/method.md"
CITED_EXTENSIONS = (".py", ".md", ".ipynb", ".toml", ".txt", ".cfg", ".yaml", ".yml")
# "docs/method.md §8 item 7", "docs/method.md §1.4, §3.2", "docs/method.md §6.3 and §7.2".
_CITATION = re.compile(r"docs/method\.md((?:(?:\s*,\s*|\s+and\s+|\s+)§\d+(?:\.\d+)?"
                       r"(?:\s+items?\s+\d+)?)+)")
_SECTION = re.compile(r"§(\d+(?:\.\d+)?)(?:\s+items?\s+(\d+))?")
_HEADING = re.compile(r"^#{2,3} (\d+(?:\.\d+)?)\.? \S", re.M)
_CONFIG_KEY = re.compile(r"^(?:seed|(?:model|loss|optim|train|data|eval|sharding)(?:\.\w+)+)$")
# Working notes outside the repository must never be cited (names split so that this file
# does not match itself).
_FORBIDDEN = ("REFERENCE" + ".md", "ANCHORS" + ".md", "../" + "shared", "/work/" + "shared")


def _repo_files() -> list[str]:
  """Tracked and untracked-but-not-ignored files (what a clone or the next commit holds)."""
  try:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    files = sorted(set(out.split()))
  except (OSError, subprocess.CalledProcessError):  # not a git checkout: walk the tree
    files = []
    for root, dirs, names in os.walk(REPO):
      dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("workdirs",)]
      files += [os.path.relpath(os.path.join(root, n), REPO) for n in names]
  return [f for f in files if os.path.isfile(os.path.join(REPO, f))]


def _read(rel: str) -> str:
  with open(os.path.join(REPO, rel), encoding="utf-8", errors="replace") as f:
    return f.read()


def _text_files() -> list[str]:
  return [f for f in _repo_files()
          if f.endswith(CITED_EXTENSIONS) or os.path.basename(f) == "Makefile"]


def _section_body(doc: str, number: str) -> str:
  """Text of '## N.' / '### N.M' up to the next heading of the same or a higher level."""
  level = "##" if "." not in number else "###"
  m = re.search(rf"^{level} {re.escape(number)}\.? .*$", doc, re.M)
  assert m, f"{METHOD} has no section {number}"
  stop = re.compile(r"^##? " if level == "##" else r"^###? ", re.M)
  nxt = stop.search(doc, m.end())
  return doc[m.end():nxt.start() if nxt else len(doc)]


def _anchors(doc: str) -> set[str]:
  """'1', '1.1', ..., and 'N item K' for every numbered list item of section N's own text
  (before its first subsection)."""
  anchors = set(_HEADING.findall(doc))
  for number in [a for a in anchors if "." not in a]:
    m = re.search(rf"^## {number}\.? .*$", doc, re.M)
    nxt = re.compile(r"^#{1,6} ", re.M).search(doc, m.end())
    own = doc[m.end():nxt.start() if nxt else len(doc)]
    for k in re.findall(r"^(\d+)\. ", own, re.M):
      anchors.add(f"{number} item {k}")
  return anchors


def _citations(text: str) -> list[str]:
  out = []
  for m in _CITATION.finditer(text):
    for sec, item in _SECTION.findall(m.group(1)):
      out.append(f"{sec} item {item}" if item else sec)
  return out


@pytest.fixture(scope="module")
def doc() -> str:
  return _read(METHOD)


def test_method_document_has_the_numbered_sections(doc):
  anchors = _anchors(doc)
  expected = {"1", "1.1", "1.2", "1.3", "1.4", "2", "3", "3.1", "3.2", "4", "4.1", "4.2", "4.3",
              "5", "5.1", "5.2", "5.3", "6", "6.1", "6.2", "6.3", "7", "7.1", "7.2", "8", "9",
              "10"}
  assert expected <= anchors, sorted(expected - anchors)
  assert {f"8 item {k}" for k in range(1, 13)} <= anchors


def test_citation_parser_on_known_forms():
  text = ("(docs/method.md §8 item 7's best reading) docs/method.md §1.4, §3.2. "
          "See docs/method.md §6.3 and §7.2; docs/method.md alone.")
  assert _citations(text) == ["8 item 7", "1.4", "3.2", "6.3", "7.2"]
  doc = "## 8. Open\n1. a\n2. b\n## 9. Next\n3. c\n### 9.1 Sub\n4. d\n"
  assert _anchors(doc) == {"8", "9", "9.1", "8 item 1", "8 item 2", "9 item 3"}


def test_every_citation_resolves(doc):
  anchors = _anchors(doc)
  cited, missing = 0, []
  for rel in _text_files():
    text = _read(rel)
    refs = _citations(text)
    if rel == METHOD:  # its own cross references: "(§6.2)", "§8 item 11"
      refs = [f"{s} item {i}" if i else s for s, i in _SECTION.findall(text)]
    cited += len(refs)
    missing += [f"{rel}: §{r}" for r in refs if r not in anchors]
  assert not missing, f"citations of {METHOD} that resolve to no section:\n" + "\n".join(missing)
  assert cited > 20  # the parser found the repository's citations at all


def test_no_file_cites_outside_working_notes():
  offenders = [f"{rel}: {name}" for rel in _text_files() for name in _FORBIDDEN
               if name in _read(rel)]
  assert not offenders, offenders


def _switch_rows(text: str):
  """(keys, default cell) of every table row in text whose first cell names config keys."""
  rows = []
  for line in text.splitlines():
    cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
    if len(cells) < 3 or set(cells[0]) <= {"-", " "}:
      continue
    keys = [k for k in re.findall(r"`([^`]+)`", cells[0]) if _CONFIG_KEY.match(k)]
    if keys:
      rows.append((keys, cells[1]))
  return rows


def test_deviation_switches_match_the_config(doc):
  defaults = config_lib._flat_keys(config_lib.base_config())  # pylint: disable=protected-access
  section = _section_body(doc, "10")
  named = {k for k in re.findall(r"`([^`]+)`", section) if _CONFIG_KEY.match(k)}
  prefixes = {k.rsplit(".", i)[0] for k in defaults for i in range(k.count(".") + 1)}
  unknown = sorted(k for k in named if k not in prefixes)
  assert not unknown, f"{METHOD} §10 names keys that config_lib does not have: {unknown}"

  rows = _switch_rows(section)
  checked = 0
  for keys, cell in rows:
    literals = re.findall(r"`([^`]+)`", cell)
    if len(literals) != len(keys):  # a described default ("data parallel over all devices")
      continue
    for key, literal in zip(keys, literals):
      value = ast.literal_eval(literal)
      actual = defaults[key]
      if isinstance(actual, tuple):
        value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
      assert value == actual, f"{METHOD} §10 says {key} defaults to {literal}, it is {actual!r}"
      checked += 1
  assert checked >= 30


def test_every_enumerated_or_boolean_switch_is_documented(doc):
  """A new choice-valued or boolean field must get a row (or a mention) in §10."""
  section = _section_body(doc, "10")
  named = set(re.findall(r"`([^`]+)`", section))
  defaults = config_lib._flat_keys(config_lib.base_config())  # pylint: disable=protected-access
  switches = {k for k, v in defaults.items() if isinstance(v, bool)}
  for key, check in config_lib._CHECKS.items():  # pylint: disable=protected-access
    try:
      msg = check(object())  # a value no rule accepts: the choice rules list their choices
    except Exception:  # pylint: disable=broad-except  (rules for sequences cannot iterate it)
      continue
    if msg and msg.startswith("must be one of"):
      switches.add(key)
  assert "model.dropout_bits" in switches and "eval.paper_protocol" in switches
  undocumented = sorted(switches - named)
  assert not undocumented, f"switches missing from {METHOD} §10: {undocumented}"


def test_non_reference_defaults_are_the_ones_documented(doc):
  """§10.1 lists exactly the defaults that differ from the reference; pin them."""
  body = _section_body(doc, "10.1")
  keys = {k for row in _switch_rows(body) for k in row[0]}
  assert keys == {"data.heatmap_min_sigma", "model.dropout_bits", "eval.paper_protocol",
                  "model.matmul_precision"}
  c = config_lib.base_config()
  assert (c.data.heatmap_min_sigma, c.model.dropout_bits, c.eval.paper_protocol,
          c.model.matmul_precision) == (1.0, 16, False, "default")
