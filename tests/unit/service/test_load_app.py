"""``cloudgate serve APP``: which targets are factories (called) and which are apps (served as they are)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from cloudgate.errors import ConfigError
from cloudgate.service.server import load_app

_MODULE = """
async def raw(scope, receive, send):
    pass

def create_app():
    return raw

class Factory:
    def __call__(self):
        return raw
make = Factory()
"""


@pytest.fixture
def module(tmp_path: Path) -> str:
    name = f"loadable_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(_MODULE)
    yield name
    sys.modules.pop(name, None)
    while str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def test_a_raw_asgi_function_is_served_as_it_is(module: str, tmp_path: Path) -> None:
    app = load_app(f"{module}:raw", tmp_path)
    assert app.__name__ == "raw"


def test_a_function_taking_no_arguments_is_a_factory(module: str, tmp_path: Path) -> None:
    assert load_app(f"{module}:create_app", tmp_path).__name__ == "raw"


def test_factory_calls_any_callable(module: str, tmp_path: Path) -> None:
    """A factory object is not guessed (it is not a plain function); ``--factory`` says it is one."""
    assert load_app(f"{module}:make", tmp_path).__class__.__name__ == "Factory"
    assert load_app(f"{module}:make", tmp_path, factory=True).__name__ == "raw"


def test_factory_on_an_asgi_function_is_a_clear_error(module: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no factory"):
        load_app(f"{module}:raw", tmp_path, factory=True)
