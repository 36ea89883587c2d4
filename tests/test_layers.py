"""The house keeps its layers: an AST walk over every module of ``workflow/``, ``workers/``
and ``scheduler.py`` (imports inside functions included).

Layer order (docs/architecture.md): foundations → spec → org → auth → notify → issues →
supervision → documents → jobs → api → cli; a module imports only from its own layer or an
earlier one.
``workers/`` and ``scheduler.py`` stand beside the jobs layer: they run what ``workflow.jobs``
decides and nothing of the CLI. Each failure names the modules and the line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LAYERS = ("foundations", "spec", "org", "auth", "notify", "issues", "supervision", "documents",
          "jobs", "api", "cli")
FOUNDATIONS = ("workflow", "workflow.errors", "workflow.clock", "workflow.config",
               "workflow.audit", "workflow.db", "workflow.models", "workflow.migrate",
               "workflow.migrations")
JOBS = ("workflow.jobs", "workflow.startup", "workflow.doctor")
OUTSIDE = ("workers", "scheduler")  # beside the jobs layer, below the CLI
# The one module that starts the background processes: it alone imports these.
BACKGROUND = "workflow.cli.background"
RUNNERS = ("celery", "kombu", "apscheduler", "workers", "scheduler")
# The one write path: only these modules run SQL on a DBAPI cursor.
CURSOR_MODULES = ("workflow.db", "workflow.issues.transaction")
COMPILED_SQL = "workflow.issues.statements"
# The ledger reader runs in a child process that must start small; so does the file check
# it imports.
LEDGER_READER = "workflow.documents.ledger_read"
LEDGER_FILE = "workflow.documents.ledger_file"
# NamedTuple's public API starts with an underscore.
PUBLIC_UNDERSCORE = ("_replace", "_asdict", "_fields", "_make")


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (or package)
    names: tuple[str, ...]  # names taken with ``from … import``
    line: int

    def __str__(self) -> str:
        return f"{self.source} (line {self.line}) imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    files = [*sorted((ROOT / "workflow").rglob("*.py")), *sorted((ROOT / "workers").rglob("*.py")),
             ROOT / "scheduler.py"]
    return {module_name(path): path for path in files
            if "versions" not in path.relative_to(ROOT).parts}  # generated migrations


MODULES = project_modules()


def imports_of(name: str) -> Iterator[Import]:
    tree = ast.parse(MODULES[name].read_text(encoding="utf-8"))
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(name, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = tuple(alias.name for alias in node.names)
            yield Import(name, base, names, node.lineno)
            for alias in node.names:  # ``from workflow.issues import engine`` names a module
                if f"{base}.{alias.name}" in MODULES:
                    yield Import(name, f"{base}.{alias.name}", (), node.lineno)


def project_target(target: str) -> str | None:
    """The project module an import names (the longest known prefix), or None."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in MODULES:
            return candidate
    return None


def layer_of(module: str) -> int:
    """The module's place in the layer order (workers and scheduler beside jobs)."""
    if module.split(".")[0] in OUTSIDE:
        return LAYERS.index("jobs")
    if module in FOUNDATIONS or module.startswith("workflow.migrations"):
        return 0
    if module in JOBS:
        return LAYERS.index("jobs")
    package = module.split(".")[1]
    assert package in LAYERS, f"{module} belongs to no layer; place it in tests/test_layers.py"
    return LAYERS.index(package)


def edges() -> list[Import]:
    found = []
    for name in MODULES:
        for item in imports_of(name):
            target = project_target(item.target)
            if target is not None and target != name:
                found.append(Import(name, target, item.names, item.line))
    return found


EDGES = edges()


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_every_module_belongs_to_a_layer() -> None:
    # Given every module of the project / When each is placed / Then none is left out.
    for name in MODULES:
        layer_of(name)


def test_no_import_cycles() -> None:
    # Given the project's imports, those inside functions too
    graph: dict[str, set[str]] = {}
    for edge in EDGES:
        # A package's __init__ importing its own modules is how a package assembles itself.
        if not edge.target.startswith(edge.source + "."):
            graph.setdefault(edge.source, set()).add(edge.target)
    # When we look for a loop / Then there is none
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_each_layer_imports_only_from_earlier_layers() -> None:
    # Given the layer order / When a module imports another
    wrong = [f"{edge}: layer {LAYERS[layer_of(edge.source)]} may not import from the later "
             f"layer {LAYERS[layer_of(edge.target)]}"
             for edge in EDGES if layer_of(edge.target) > layer_of(edge.source)]
    # Then the imported one never stands in a later layer
    assert not wrong, "\n".join(wrong)


def test_workers_and_scheduler_never_import_the_cli() -> None:
    wrong = [str(edge) for edge in EDGES if edge.source.split(".")[0] in OUTSIDE
             and edge.target.startswith("workflow.cli")]
    assert not wrong, "\n".join(wrong)


def test_only_the_background_module_imports_celery_apscheduler_workers_scheduler() -> None:
    # Given every import under workflow/, the project's and the libraries'
    wrong = [f"{item}: only {BACKGROUND} starts background processes"
             for name in MODULES if name.startswith("workflow") and name != BACKGROUND
             for item in imports_of(name) if item.target.split(".")[0] in RUNNERS]
    # Then no module but the CLI's background module reaches Celery, APScheduler, workers/
    # or scheduler.py
    assert not wrong, "\n".join(wrong)


def test_the_background_module_exists_and_is_the_one_that_starts_processes() -> None:
    assert BACKGROUND in MODULES
    targets = {item.target.split(".")[0] for item in imports_of(BACKGROUND)}
    assert {"scheduler", "workers"} <= targets


def test_no_dbapi_cursor_outside_the_transaction_object() -> None:
    # Given every attribute access in the project
    wrong = []
    for name, path in MODULES.items():
        if name in CURSOR_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and (
                    node.attr in ("raw_connection", "cursor", "executemany")
                    or (isinstance(node.value, ast.Name) and "cursor" in node.value.id)):
                wrong.append(f"{name} (line {node.lineno}): .{node.attr}")
            elif isinstance(node, ast.arg) and node.arg == "cursor":
                wrong.append(f"{name} (line {node.lineno}): a 'cursor' parameter")
    # Then only the write path and db.py touch a DBAPI cursor
    assert not wrong, "DBAPI cursor outside " + ", ".join(CURSOR_MODULES) + ":\n" + \
        "\n".join(wrong)


def test_compiled_sql_is_private_to_the_transaction_object() -> None:
    wrong = [str(edge) for edge in EDGES
             if edge.target == COMPILED_SQL and edge.source != "workflow.issues.transaction"]
    assert not wrong, "\n".join(wrong)


def private_definitions() -> dict[str, set[str]]:
    """Each private name the project defines (functions, classes, methods, module and class
    attributes) with the modules that define it."""
    found: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                defined = [node.name]
            elif isinstance(node, ast.Assign):
                defined = [target.id for target in node.targets if isinstance(target, ast.Name)]
            else:
                continue
            for item in defined:
                if item.startswith("_") and not item.startswith("__"):
                    found.setdefault(item, set()).add(name)
    return found


def test_no_module_uses_another_modules_private_names() -> None:
    # Given every ``from x import _y``, and every ``obj._y`` on another object where ``_y``
    # is a private name some other project module defines
    private = private_definitions()
    wrong = [f"{edge}: takes private {name}" for edge in EDGES for name in edge.names
             if name.startswith("_") and not name.startswith("__")]
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Attribute) and node.attr in private
                    and name not in private[node.attr] and node.attr not in PUBLIC_UNDERSCORE
                    and not (isinstance(node.value, ast.Name)
                             and node.value.id in ("self", "cls"))):
                wrong.append(f"{name} (line {node.lineno}): uses {node.attr} of "
                             f"{', '.join(sorted(private[node.attr]))}")
    # Then there is none
    assert not wrong, "\n".join(wrong)


def test_the_ledger_reader_imports_nothing_of_the_engine() -> None:
    # The reader child process starts with `python -m workflow.documents.ledger_read`.
    allowed = {"workflow", "workflow.errors", "workflow.documents", LEDGER_FILE}
    wrong = [str(edge) for edge in EDGES
             if edge.source in (LEDGER_READER, LEDGER_FILE) and edge.target not in allowed]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["spec", "org", "notify", "issues", "supervision",
                                     "documents", "cli"])
def test_every_package_says_what_it_holds(package: str) -> None:
    tree = ast.parse((ROOT / "workflow" / package / "__init__.py").read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"workflow/{package}/__init__.py needs a docstring"


def test_no_module_is_over_700_lines() -> None:
    long = [f"{name}: {lines} lines" for name, path in MODULES.items()
            if (lines := len(path.read_text(encoding="utf-8").splitlines())) > 700]
    assert not long, "\n".join(long)
