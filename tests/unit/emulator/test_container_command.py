"""ContainerRunner's podman command line (no podman needed): values stay off the argv, the port stays on loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudgate.emulator.serving import local_runners
from cloudgate.emulator.serving.container import ContainerRunner, revision_name
from cloudgate.errors import EmulatorError


def test_environment_values_never_reach_the_argv() -> None:
    argv = ContainerRunner("img", env={"CLOUDGATE_CURSOR_SECRET": "s3cr3t-value"}).command(9001)
    assert not [arg for arg in argv if "s3cr3t-value" in arg]
    assert argv[argv.index("CLOUDGATE_CURSOR_SECRET") - 1] == "--env"


def test_the_port_is_published_on_loopback_only_and_named_by_port() -> None:
    argv = ContainerRunner("img").command(9001)
    assert argv[argv.index("--publish") + 1] == "127.0.0.1:9001:9001"
    assert "PORT" in argv and "K_SERVICE" in argv and "K_REVISION" in argv and "K_CONFIGURATION" in argv


def test_volumes_are_mounted_read_only_and_the_command_follows_the_image(tmp_path: Path) -> None:
    argv = ContainerRunner("img", volumes={tmp_path: "/secrets"}, command=["serve", "--x"]).command(9001)
    assert argv[argv.index("--volume") + 1] == f"{tmp_path.resolve()}:/secrets:ro"
    assert argv[-3:] == ["img", "serve", "--x"]


def test_revision_names_look_like_cloud_runs() -> None:
    name = revision_name("orders", 2)
    assert name.startswith("orders-00002-") and len(name) == len("orders-00002-abc") and name[-3:].isalpha()


def test_inherited_variables_are_passed_by_name_from_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDGATE_THROTTLE_STORAGE", "redis://:hunter2@127.0.0.1:6379")
    argv = ContainerRunner("img", inherit=["CLOUDGATE_THROTTLE_STORAGE", "CLOUDGATE_NOT_SET"]).command(9001)
    assert argv[argv.index("CLOUDGATE_THROTTLE_STORAGE") - 1] == "--env"
    assert "CLOUDGATE_NOT_SET" not in argv  # podman would pass an unset name as nothing anyway: not named at all
    assert not [arg for arg in argv if "hunter2" in arg]


def test_an_inherit_env_annotation_that_is_not_names_is_refused() -> None:
    with pytest.raises(EmulatorError, match="inherit-env"):
        local_runners.check({"image": "img"}, {local_runners.INHERIT_ENV: "GOOD,not a name"})
