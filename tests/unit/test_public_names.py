"""Each package says what it offers in ``__all__``: every name there exists, and every public name the package's
``__init__`` binds (imports, defines) is listed, so nothing is exported by accident or promised and missing."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
#: ``cli`` is the top: it offers a command, not names (nothing imports it).
PACKAGES = sorted(
    ".".join(path.parent.relative_to(SRC).parts)
    for path in (SRC / "cloudgate").rglob("__init__.py")
    if "cli" not in path.parent.relative_to(SRC).parts
)


def _bound_public_names(package: str) -> set[str]:
    """Names the ``__init__`` binds at top level, leaving out private ones and ``from __future__``."""
    tree = ast.parse((SRC / package.replace(".", "/") / "__init__.py").read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {name for name in names if not name.startswith("_")}


def test_the_packages_are_found() -> None:
    assert {"cloudgate", "cloudgate.service", "cloudgate.client", "cloudgate.emulator"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_declares_all(package: str) -> None:
    module = importlib.import_module(package)
    assert isinstance(getattr(module, "__all__", None), list), f"{package} has no __all__ list"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_name_in_all_exists(package: str) -> None:
    module = importlib.import_module(package)
    missing = [name for name in getattr(module, "__all__", []) if not hasattr(module, name)]
    assert missing == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_of_the_package_is_in_all(package: str) -> None:
    module = importlib.import_module(package)
    assert _bound_public_names(package) - set(getattr(module, "__all__", [])) == set()
