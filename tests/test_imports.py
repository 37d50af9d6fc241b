"""The project's import graph, read from the source with ``ast``: no cycles among the
project's modules, and imports at the top of files except the few that say why not."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("focusclip_jax", "input_pipeline", "focusclip_tools")
# Project-module imports inside function bodies: at most this many, each with its reason.
MAX_LOCAL_PROJECT_IMPORTS = 15


def _modules() -> dict[str, str]:
  """Dotted module name -> file, for the packages and main.py."""
  out = {"main": os.path.join(ROOT, "main.py")}
  for package in PACKAGES:
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
      for f in files:
        if f.endswith(".py"):
          path = os.path.join(folder, f)
          name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
          out[name.removesuffix(".__init__")] = path
  return out


def _imported(node, module: str, modules) -> list[str]:
  """The project modules an import statement imports (``from a import b`` -> a.b when b is a
  module, else a)."""
  if isinstance(node, ast.Import):
    names = [a.name for a in node.names]
  else:
    base = node.module or ""
    if node.level:  # relative import
      parts = module.split(".")
      is_package = modules[module].endswith("__init__.py")
      parent = parts[:len(parts) - node.level + (1 if is_package else 0)]
      base = ".".join(parent + ([base] if base else []))
    names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
  out = []
  for name in names:
    while name and name not in modules:  # 'import a.b.c' -> the deepest project module
      name = name.rpartition(".")[0]
    if name:
      out.append(name)
  return out


def _imports(modules):
  """(edges {module: {imported}}, [(file, line, source line) of imports in functions])."""
  edges, local = {}, []
  for module, path in modules.items():
    with open(path, encoding="utf-8") as f:
      text = f.read()
    lines = text.splitlines()
    tree = ast.parse(text)
    edges[module] = set()
    for node in ast.walk(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        edges[module].update(m for m in _imported(node, module, modules) if m != module)
    for fn in ast.walk(tree):
      if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for node in fn.body:
          for sub in ast.walk(node):
            if isinstance(sub, (ast.Import, ast.ImportFrom)):
              local.append((module, path, sub.lineno, lines[sub.lineno - 1],
                            bool(_imported(sub, module, modules))))
  return edges, sorted(set(local))


def _cycles(edges):
  """Strongly connected components with more than one module (Tarjan)."""
  index, low, stack, on_stack, out = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in sorted(edges.get(v, ())):
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = []
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.append(w)
        if w == v:
          break
      if len(component) > 1:
        out.append(sorted(component))

  for v in sorted(edges):
    if v not in index:
      visit(v)
  return out


def _package_edges(edges, modules):
  """Drop the edges from a package's own submodules to the package (``from pkg import sub``
  inside pkg/ imports pkg/__init__.py first, which is how packages work, not a cycle of the
  project's own making) -- unless the package's __init__ imports that submodule back."""
  out = {}
  for m, targets in edges.items():
    out[m] = {t for t in targets
              if not (m.startswith(t + ".") and modules[t].endswith("__init__.py")
                      and m not in edges.get(t, ()))}
  return out


def test_the_checker_finds_cycles_and_local_imports(tmp_path):
  (tmp_path / "pkg").mkdir()
  (tmp_path / "pkg" / "__init__.py").write_text("")
  (tmp_path / "pkg" / "a.py").write_text("from pkg import b\n")
  (tmp_path / "pkg" / "b.py").write_text("def f():\n  from pkg import c  # why\n")
  (tmp_path / "pkg" / "c.py").write_text("import pkg.a\nimport os\n")
  (tmp_path / "pkg" / "d.py").write_text("from . import a\n")
  modules = {f"pkg.{n}": str(tmp_path / "pkg" / f"{n}.py") for n in "abcd"}
  modules["pkg"] = str(tmp_path / "pkg" / "__init__.py")
  edges, local = _imports(modules)
  assert edges == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"},
                   "pkg.d": {"pkg.a"}}
  assert _cycles(edges) == [["pkg.a", "pkg.b", "pkg.c"]]
  assert [(m, line, project) for m, _, line, _, project in local] == [("pkg.b", 2, True)]


def test_no_import_cycles_among_the_projects_modules():
  modules = _modules()
  edges, _ = _imports(modules)
  assert len(edges) > 60
  cycles = _cycles(_package_edges(edges, modules))
  assert not cycles, f"import cycles: {cycles}"


def test_imports_inside_functions_are_few_and_say_why():
  _, local = _imports(_modules())
  project = [(path, line, src) for _, path, line, src, is_project in local if is_project]
  assert len(project) <= MAX_LOCAL_PROJECT_IMPORTS, "\n".join(
      f"{p}:{n}: {s.strip()}" for p, n, s in project)
  # Every import inside a function (project or third-party) carries its reason: a comment
  # on its line after the pylint marker, or on the line above its block of imports.
  unexplained = []
  for _, path, line, src, _ in local:
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
    above = line - 2
    while lines[above].strip().startswith(("from ", "import ")):
      above -= 1
    above = lines[above].strip()
    own = src.split("#", 1)[1] if "#" in src else ""
    reason = own.replace("pylint: disable=g-import-not-at-top", "").strip(" ,")
    if not reason and not above.startswith("#"):
      unexplained.append(f"{os.path.relpath(path, ROOT)}:{line}: {src.strip()}")
  assert not unexplained, "imports inside functions without a reason:\n" + "\n".join(unexplained)
