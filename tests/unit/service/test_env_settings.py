"""``EnvSettings`` reads ``CLOUDGATE_*`` variables as pydantic-settings did, without importing it."""

from __future__ import annotations

import pydantic
import pytest

from cloudgate.service.env_settings import EnvSettings


class _Settings(EnvSettings):
    port: int = 1
    name: str = "x"


def test_a_field_defaults_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_PORT", "42")
    assert _Settings().port == 42


def test_the_variable_name_is_matched_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("cloudgate_Name", "y")
    assert _Settings().name == "y"


def test_keyword_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_PORT", "42")
    assert _Settings(port=7).port == 7


def test_a_bad_value_is_a_validation_error_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_PORT", "many")
    with pytest.raises(pydantic.ValidationError, match="port"):
        _Settings()


def test_unrelated_and_unknown_variables_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_OTHER", "1")
    monkeypatch.setenv("PORT", "42")
    assert _Settings() == _Settings(port=1, name="x")


def test_settings_are_frozen() -> None:
    with pytest.raises(pydantic.ValidationError):
        _Settings().port = 2  # type: ignore[misc]
