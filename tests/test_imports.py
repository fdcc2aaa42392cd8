"""The project's modules import each other without a cycle, and the two modules everything
else leans on (validate, runs) import nothing from the project (issue 19: one home for each
thing). Imports are read as run_notebooks reads them: the module-level ones."""
import glob
import os

import run_notebooks

ROOT = run_notebooks.ROOT
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "*.py")))


def project_imports(module):
    """The project modules that module imports at module level."""
    with open(os.path.join(ROOT, module + ".py"), encoding="utf-8") as f:
        return sorted(run_notebooks.imported_names(f.read()) & set(MODULES) - {module})


def find_cycle(graph):
    """A list of modules that import each other in a ring, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for child in graph[node]:
            if state.get(child) == "open":
                return path[path.index(child):] + [child]
            if child not in state:
                ring = visit(child, path + [child])
                if ring:
                    return ring
        state[node] = "done"
        return None

    for node in graph:
        if node not in state:
            ring = visit(node, [node])
            if ring:
                return ring
    return None


def test_no_module_imports_itself_through_others():
    graph = {module: project_imports(module) for module in MODULES}
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"


def test_find_cycle_finds_a_ring():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None


def test_the_checks_and_the_run_bookkeeping_import_nothing_from_the_project():
    assert project_imports("validate") == []
    assert project_imports("runs") == []


def test_pyproject_installs_every_module():
    """pyproject.toml lists the flat modules by name: a new module must be added there, or a
    (non-editable) `pip install .` leaves it out."""
    import tomllib
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        listed = tomllib.load(f)["tool"]["setuptools"]["py-modules"]
    assert sorted(listed) == [m for m in MODULES if m != "setup"]
