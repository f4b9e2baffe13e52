"""The layering of the house, read from the source (an AST walk, no imports run):

- the bottom (``errors``, ``codes``, ``env_vars``, ``google``, ``headers``, ``log_lines``) imports nothing of ours;
- the shared models just above it (``knative``: Cloud Run's resources) import only the bottom;
- ``service``, ``client``, ``emulator`` and ``deploy`` import the bottom, the models and themselves, never each other;
- nothing imports ``cli`` but ``cli``; ``app/`` (the example) uses only ``cloudgate.service`` and the bottom;
- no module imports itself back through others when it runs (no cycle; imports inside functions count, those in
  ``if TYPE_CHECKING:`` blocks do not, as they never run: a type-only back reference is how a context object
  names what it holds).

The crossing rules count every import, ``TYPE_CHECKING`` ones too: a type is a dependency as well.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
BOTTOM = frozenset({"errors", "codes", "env_vars", "google", "headers", "log_lines"})
#: Typed models of Google's resources that both the emulator and deploy read; they import only the bottom.
MODELS = frozenset({"knative"})
PARTS = frozenset({"service", "client", "emulator", "deploy"})


def _module_name(path: Path, base: Path) -> str:
    parts = list(path.relative_to(base).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(base: Path, package: str) -> dict[str, Path]:
    return {_module_name(path, base): path for path in sorted((base / package).rglob("*.py"))}


def _type_only(tree: ast.Module) -> set[int]:
    """The ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            found.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    return found


def _imports(path: Path, name: str, known: set[str], *, typing: bool = True) -> Iterator[str]:
    """Every module of ours that ``path`` imports, anywhere in it (functions too; ``TYPE_CHECKING`` if ``typing``)."""
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(), str(path))
    skip = set() if typing else _type_only(tree)
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from pkg import mod`` imports the module ``pkg.mod`` when there is one, else a name from ``pkg``.
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in {"cloudgate", "app"}:
                # ``import a.b.c`` names the longest module of ours it spells.
                while target not in known and "." in target:
                    target = target.rsplit(".", 1)[0]
                yield target


def _layer(module: str) -> str:
    """``service`` for ``cloudgate.service.auth``, ``cloudgate`` for the package root, ``app`` for the example."""
    parts = module.split(".")
    if parts[0] != "cloudgate":
        return parts[0]
    return parts[1] if len(parts) > 1 else "cloudgate"


@functools.cache
def _graph(typing: bool = True) -> dict[str, set[str]]:
    modules = {**_modules(SRC, "cloudgate"), **_modules(ROOT, "app")}
    known = set(modules)
    return {name: set(_imports(path, name, known, typing=typing)) - {name} for name, path in modules.items()}


def test_the_bottom_imports_nothing_of_ours() -> None:
    graph = _graph()
    wrong = {m: sorted(t for t in graph[m] if t != "cloudgate") for m in graph if _layer(m) in BOTTOM}
    assert {m: t for m, t in wrong.items() if t} == {}


def test_the_models_import_only_the_bottom() -> None:
    graph = _graph()
    wrong = {
        m: sorted(t for t in graph[m] if _layer(t) not in BOTTOM | {"cloudgate"}) for m in graph if _layer(m) in MODELS
    }
    assert wrong and {m: t for m, t in wrong.items() if t} == {}


def test_the_parts_import_only_the_bottom_the_models_and_themselves() -> None:
    graph = _graph()
    wrong = {
        module: sorted(t for t in targets if _layer(t) not in BOTTOM | MODELS | {_layer(module)})
        for module, targets in graph.items()
        if module.startswith("cloudgate.") and _layer(module) in PARTS
    }
    assert {m: t for m, t in wrong.items() if t} == {}


def test_nothing_imports_the_cli() -> None:
    graph = _graph()
    importers = sorted(
        m for m, targets in graph.items() if _layer(m) != "cli" and any(_layer(t) == "cli" for t in targets)
    )
    assert importers == []


def test_the_example_app_uses_only_the_service_and_the_bottom() -> None:
    graph = _graph()
    wrong = {
        module: sorted(t for t in targets if t.startswith("cloudgate") and _layer(t) not in BOTTOM | {"service"})
        for module, targets in graph.items()
        if module.split(".")[0] == "app"
    }
    assert {m: t for m, t in wrong.items() if t} == {}


def test_there_is_no_import_cycle() -> None:
    graph = _graph(typing=False)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph.get(module, ())):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_the_walk_sees_imports_made_inside_functions() -> None:
    """The rules above would pass vacuously if the walk missed lazy imports: ``auth`` opens the store lazily."""
    graph = _graph()
    assert "cloudgate.service.keys.sqlite" in graph["cloudgate.service.keys"]
    assert "cloudgate.service.auth" in graph["cloudgate.service"]


def test_type_only_imports_are_left_out_of_the_cycle_check_only(tmp_path: Path) -> None:
    """An import under ``if TYPE_CHECKING:`` counts for the crossing rules but not for the cycle check."""
    module = tmp_path / "cloudgate" / "a.py"
    module.parent.mkdir()
    module.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cloudgate import b\n")
    known = {"cloudgate.a", "cloudgate.b"}
    assert set(_imports(module, "cloudgate.a", known)) == {"cloudgate.b"}
    assert set(_imports(module, "cloudgate.a", known, typing=False)) == set()


#: The emulator's rooms, and which other rooms each may import (``core`` is the bottom every room reads).
_ROOMS = {
    "core": frozenset(),
    "identity": frozenset({"core"}),
    "control": frozenset({"core", "identity"}),
    "serving": frozenset({"core"}),
}


def _room(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[:2] == ["cloudgate", "emulator"] and parts[2] in _ROOMS else None


def test_each_emulator_room_imports_only_the_rooms_below_it() -> None:
    """``core`` imports no room; ``serving`` never imports the API handlers in ``control``; nothing imports ``serving``
    but ``serving`` and the composition root (``emulator/server.py``), types included."""
    graph = _graph()
    wrong = {
        module: sorted(t for t in targets if _room(t) not in {None, _room(module), *_ROOMS[room]})
        for module, targets in graph.items()
        if (room := _room(module)) is not None
    }
    assert {m: t for m, t in wrong.items() if t} == {}


def test_the_emulator_has_no_import_cycle_even_through_types() -> None:
    """The context names what it holds through protocols (``core/context.py``), not by importing the rooms above."""
    graph = _graph(typing=True)
    emulator = {
        m: {t for t in ts if t.startswith("cloudgate.emulator")}
        for m, ts in graph.items()
        if m.startswith("cloudgate.emulator")
    }
    seen: dict[str, int] = {}
    cycles: list[str] = []

    def visit(module: str) -> None:
        seen[module] = 1
        for target in sorted(emulator.get(module, ())):
            if seen.get(target) == 1:
                cycles.append(f"{module} -> {target}")
            elif target not in seen:
                visit(target)
        seen[module] = 2

    for module in sorted(emulator):
        if module not in seen:
            visit(module)
    assert cycles == []
