"""``cloudgate dev --image``: the shell's ``CLOUDGATE_*`` variables reach the container by name, never stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudgate.cli import dev_image, emulated_service
from cloudgate.emulator.serving import local_runners

_SECRET_URL = "redis://:hunter2@127.0.0.1:6379"


def _service(tmp_path: Path) -> dict[str, object]:
    env = dev_image.container_env({"CLOUDGATE_IDENTITY": "cloud-run", "CLOUDGATE_HOST": "127.0.0.1"})
    container = dev_image.container("localhost/cloudgate:latest", tmp_path, env)
    return emulated_service.knative_service("dev", container, env=env)


def test_an_inherited_value_never_enters_the_revision_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The template is what ``state.json`` keeps and ``gcloud run services describe`` shows."""
    monkeypatch.setenv("CLOUDGATE_THROTTLE_STORAGE", _SECRET_URL)
    assert "hunter2" not in json.dumps(_service(tmp_path))


def test_inherited_variables_are_named_in_the_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_THROTTLE_STORAGE", _SECRET_URL)
    monkeypatch.setenv("CLOUDGATE_DATA_DIR", "/a/path/on/this/machine")
    template = _service(tmp_path)["spec"]["template"]  # type: ignore[index]
    names = local_runners.inherited_names(template["metadata"]["annotations"])  # type: ignore[index]
    assert "CLOUDGATE_THROTTLE_STORAGE" in names
    assert "CLOUDGATE_DATA_DIR" not in names and "CLOUDGATE_IDENTITY" not in names  # local only; the revision's own
