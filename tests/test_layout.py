"""The layout: imports run downward only, with no circles and no project import hidden in a function.

Package order: ``dataset_builder`` < ``hub_cards`` < ``modeling`` < ``scripts``; inside ``modeling`` the wings go
``errors`` < ``network`` < ``evaluation`` < ``training`` < ``mapping`` < ``mass_balance`` < ``hub`` < ``demo``
< ``cli``. The whole tree is formatted by ``ruff format`` (line length in ``pyproject.toml``) and passes ``ruff check``.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("dataset_builder", "hub_cards", "modeling", "scripts")
WINGS = ("errors", "network", "evaluation", "training", "mapping", "mass_balance", "hub", "demo", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def project_imports(path: Path) -> list[tuple[str, int, bool]]:
    """(imported project module, line, at module level) for every import of a project module in ``path``."""
    tree = ast.parse(path.read_text(), str(path))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # imports under a module-level `if TYPE_CHECKING:` or `try:` count as module level
        if isinstance(node, (ast.If, ast.Try)):
            top_level |= {id(child) for child in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [f"{node.module}.{a.name}" for a in node.names]  # a submodule, or a name of node.module
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES[:3]:
                found.append((name, node.lineno, id(node) in top_level))
    return found


def resolve(name: str, modules: set[str]) -> str | None:
    """The project module an imported dotted name refers to (a module, or the module holding the name)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def rank(module: str) -> tuple[int, int]:
    """Where a module sits: (package index, wing index inside modeling)."""
    package, _, rest = module.partition(".")
    if package != "modeling":
        return PACKAGES.index(package), 0
    wing = rest.split(".")[0]
    return PACKAGES.index(package), WINGS.index(wing) if wing else 0


def import_graph() -> dict[str, set[str]]:
    files = project_files()
    modules = {module_name(p) for p in files}
    graph: dict[str, set[str]] = {}
    for path in files:
        source = module_name(path)
        targets = {resolve(name, modules) for name, _, _ in project_imports(path)}
        graph[source] = {t for t in targets if t and t != source}
    return graph


def test_every_modeling_module_sits_in_a_named_wing():
    strays = [
        module_name(p)
        for p in (ROOT / "modeling").rglob("*.py")
        if module_name(p) != "modeling" and module_name(p).split(".")[1] not in WINGS
    ]
    assert not strays, f"modules outside the wings {WINGS}: {strays}"


def test_imports_run_downward_only():
    upward = []
    for source, targets in import_graph().items():
        if source == "modeling":  # the package's own __init__ re-exports the network wing
            continue
        for target in targets:
            if target == "modeling":  # `from modeling import FaciesCNN` reaches the network wing
                target = "modeling.network"
            if rank(target) > rank(source):
                upward.append(f"{source} -> {target}")
    assert not upward, "upward imports:\n" + "\n".join(sorted(upward))


def test_no_project_import_hidden_in_a_function():
    hidden = sorted(
        {
            f"{path.relative_to(ROOT)}:{line}"
            for path in project_files()
            for _, line, at_top in project_imports(path)
            if not at_top
        }
    )
    assert not hidden, "imports inside functions:\n" + "\n".join(hidden)


def test_no_import_circles():
    graph = import_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_the_graph_checks_can_fail(tmp_path):
    """The checks above see what they should: an upward import, a hidden one and a circle in a fake tree."""
    fake = tmp_path / "fake.py"
    fake.write_text("import os\nfrom modeling.demo import run_demo\n\ndef f():\n    from hub_cards import report\n")
    names = project_imports(fake)
    assert ("modeling.demo.run_demo", 2, True) in names and ("hub_cards.report", 5, False) in names
    assert rank("dataset_builder.schema") < rank("hub_cards.report") < rank("modeling.network.config")
    assert rank("modeling.network.config") < rank("modeling.training.baseline") < rank("modeling.demo")


@pytest.mark.skipif(shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="ruff is not installed")
def test_the_tree_is_formatted_and_lint_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent))
    fmt = subprocess.run([ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run([ruff, "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
