"""The layout's rules: product code never imports the testbed or the tests, no module
imports itself back through others, and no product file outgrows a reading."""

import ast
from pathlib import Path

from tests.helpers import REPO

PRODUCT = ("stack", "tasks", "deploy.py", "config.py", "group_data", "inventories/production.py",
           "inventories/staging.py")
OURS = ("stack", "testbed", "tests", "bench")  # top-level packages whose imports are followed
MAX_LINES = 400


def _files(*roots):
    for root in roots:
        path = REPO / root
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module of ours that ``path`` imports, at any depth (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {name for name in found if name.split(".")[0] in OURS}


def test_product_code_never_imports_the_testbed_or_the_tests():
    offenders = [f"{p.relative_to(REPO)}: {name}" for p in _files(*PRODUCT) for name in sorted(_imports(p))
                 if name.split(".")[0] in ("testbed", "tests", "bench")]
    assert not offenders, "product code importing test tools:\n" + "\n".join(offenders)


def test_no_import_cycles():
    modules = {_module(p): p for p in _files(*OURS)}
    graph = {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}
    # A package's __init__ re-exporting its own modules is not a cycle of concern.
    graph = {n: {i for i in deps if not n.startswith(i + ".")} for n, deps in graph.items()}
    cycles, done = [], set()

    def visit(node, trail):
        if node in trail:
            cycles.append(" -> ".join(trail[trail.index(node):] + [node]))
            return
        if node in done:
            return
        for dep in sorted(graph[node]):
            visit(dep, trail + [node])
        done.add(node)

    for name in sorted(graph):
        visit(name, [])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_product_file_is_over_400_lines():
    long = [f"{p.relative_to(REPO)}: {n}" for p in _files(*PRODUCT)
            if (n := len(p.read_text().splitlines())) > MAX_LINES]
    assert not long, f"product files over {MAX_LINES} lines:\n" + "\n".join(long)


def test_test_modules_import_no_other_test_module():
    """Shared test code lives in helper modules; a test module importing another runs its fixtures twice."""
    offenders = [f"{p.relative_to(REPO)}: {name}" for p in _files("tests") for name in sorted(_imports(p))
                 if name.split(".")[-1].startswith(("test_", "conftest")) or ".test_" in name]
    assert not offenders, "test modules importing each other:\n" + "\n".join(offenders)


def test_task_files_share_nothing_through_module_globals():
    """What one task file hands another goes through the run's context (stack/context.py):
    no ``global`` statement, and no writing into another module's names."""
    modules = {p.stem for p in (REPO / "stack").glob("*.py")}
    offenders = []
    for path in _files("stack", "tasks", "deploy.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Global):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: global {', '.join(node.names)}")
            targets = node.targets if isinstance(node, ast.Assign) else \
                [node.target] if isinstance(node, ast.AugAssign) else []
            for target in targets:
                while isinstance(target, ast.Subscript):
                    target = target.value
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id in modules:
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {target.value.id}.{target.attr}")
    assert not offenders, "module globals written across files:\n" + "\n".join(offenders)
