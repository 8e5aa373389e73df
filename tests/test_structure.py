"""The architecture rules of the code base, checked on the source: no import cycles in src/, short functions,
thin entry points, nothing outside tests/ imports tests/, model facts only in the model cards."""
import ast
import os
import re

import pytest

from tests.helpers import ROOT

ENTRY_POINTS = ("midas_run.py", "midas_eval.py", "midas_export.py", "midas_train.py")
MAX_FUNCTION_LINES = 60
MAX_ENTRY_POINT_LINES = 60


def python_files(folder):
    for base, _, names in os.walk(os.path.join(ROOT, folder)):
        yield from (os.path.join(base, name) for name in sorted(names) if name.endswith(".py"))


def module_name(path):
    relative = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
    return relative[:-len(".__init__")] if relative.endswith(".__init__") else relative


def imported_modules(path):
    """Every module named by an import statement of the file (also inside functions), and their packages."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    parents = {name.rsplit(".", depth)[0] for name in names for depth in range(1, name.count("."))}
    return names | parents  # importing a.b.c runs the packages a.b and a first


def src_import_graph():
    """{module: the src modules it imports}; a module's own packages are left out (Python runs a submodule import
    inside a package that is still initialising), other packages count (their ``__init__`` runs first)."""
    modules = {module_name(path): path for path in python_files("src")}
    return {name: {other for other in imported_modules(path)
                   if other in modules and other != name and not name.startswith(other + ".")}
            for name, path in modules.items()}


def test_src_has_no_import_cycle():
    graph = src_import_graph()
    state = {}

    def visit(node, trail):
        state[node] = "open"
        for child in graph[node]:
            if state.get(child) == "open":
                pytest.fail("import cycle: " + " -> ".join(trail[trail.index(child):] + [child]))
            if child not in state:
                visit(child, trail + [child])
        state[node] = "done"

    for name in graph:
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("folder", ["src", "benchmarks", "reference", "demo", "scripts"])
def test_nothing_outside_tests_imports_tests(folder):
    for path in python_files(folder):
        assert not any(name == "tests" or name.startswith("tests.") for name in imported_modules(path)), path
    for name in ENTRY_POINTS:
        assert not any(n.startswith("tests") for n in imported_modules(os.path.join(ROOT, name))), name


def test_functions_in_src_are_short():
    long_ones = []
    for path in python_files("src"):
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_ones.append(f"{os.path.relpath(path, ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long_ones, long_ones


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_points_are_thin(name):
    with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
        assert len(handle.read().splitlines()) <= MAX_ENTRY_POINT_LINES


def test_model_facts_live_only_in_the_cards():
    """ImageNet statistics, released file names and input sides appear in src/ only in the model cards."""
    facts = re.compile(r"0\.485|0\.229|f6b98070|70d6b9c8|upper_bound\"\s*,\s*keep")
    offenders = [path for path in python_files("src") if not path.endswith(os.path.join("models", "cards.py"))
                 and facts.search(open(path, encoding="utf-8").read())]
    assert not offenders, offenders


def test_no_code_enables_mindspore_compile_cache():
    """MindSpore's persistent compile cache returned wrong depth for a second input shape: nothing here may
    switch it on (no test proves it correct)."""
    offenders = [path for folder in ("src", "tests", "benchmarks", "scripts", "demo", "reference")
                 for path in python_files(folder) if not path.endswith("test_structure.py")
                 and "MS_COMPILER_CACHE_ENABLE" in open(path, encoding="utf-8").read()]
    assert not offenders, offenders
