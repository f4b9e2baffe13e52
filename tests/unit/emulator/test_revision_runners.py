"""Which runner a revision gets (local command, upstream, podman), what an instance's folder holds, and the exact
podman argv of an image revision (podman itself is not run here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudgate.emulator.serving.container import ContainerRunner
from cloudgate.emulator.serving.local_runners import (
    HOST_VOLUMES,
    INSTANCE_COPIES,
    UpstreamRunner,
    check,
    default_runner,
)
from cloudgate.emulator.serving.runner import ProcessRunner
from cloudgate.errors import EmulatorError


def test_local_command_image_runs_command_and_args_here(tmp_path: Path) -> None:
    container = {"image": "cloudgate/local-command", "command": ["python3"], "args": ["-m", "app"]}
    runner = default_runner(container, {"K_SERVICE": "api"}, tmp_path / "mounts", annotations={}, folder=tmp_path)
    assert isinstance(runner, ProcessRunner)
    assert runner.argv == ["python3", "-m", "app"]
    assert runner.env["CLOUDGATE_MOUNT_ROOT"] == str(tmp_path / "mounts")
    assert runner.env["TMPDIR"] == str(tmp_path)


def test_each_instance_gets_its_own_copy_of_a_folder_and_of_an_sqlite_file(tmp_path: Path) -> None:
    data, keys = tmp_path / "data", tmp_path / "keys.sqlite3"
    data.mkdir()
    (data / "rows.csv").write_text("a,b\n")
    keys.write_bytes(b"SQLite format 3\x00")
    copies = {"DATA_DIR": str(data), "KEYSTORE": f"sqlite:///{keys}"}
    container = {"image": "cloudgate/local-command", "command": ["app"]}
    instance = tmp_path / "instances" / "api-00001"
    instance.mkdir(parents=True)
    runner = default_runner(container, {}, tmp_path, annotations={INSTANCE_COPIES: json.dumps(copies)}, folder=instance)
    assert isinstance(runner, ProcessRunner)
    own_data = Path(runner.env["DATA_DIR"])
    assert own_data.is_relative_to(instance) and (own_data / "rows.csv").read_text() == "a,b\n"
    own_keys = runner.env["KEYSTORE"].removeprefix("sqlite:///")
    assert Path(own_keys).is_relative_to(instance) and Path(own_keys).read_bytes() == keys.read_bytes()


def test_a_copy_of_a_folder_that_does_not_exist_yet_starts_empty(tmp_path: Path) -> None:
    annotations = {INSTANCE_COPIES: json.dumps({"DATA_DIR": str(tmp_path / "missing")})}
    container = {"image": "cloudgate/local-command", "command": ["app"]}
    runner = default_runner(container, {}, tmp_path, annotations=annotations, folder=tmp_path / "i")
    assert isinstance(runner, ProcessRunner)
    assert list(Path(runner.env["DATA_DIR"]).iterdir()) == []


def test_upstream_image_fronts_the_url_in_args(tmp_path: Path) -> None:
    container = {"image": "cloudgate/upstream", "args": ["http://127.0.0.1:9000/"]}
    runner = default_runner(container, {}, tmp_path, annotations={}, folder=tmp_path)
    assert isinstance(runner, UpstreamRunner)
    assert runner.url(12345) == "http://127.0.0.1:9000" and runner.returncode is None


@pytest.mark.parametrize(
    ("container", "annotations", "message"),
    [
        ({"image": "cloudgate/upstream", "args": ["ftp://x"]}, {}, "not an http"),
        ({"image": "cloudgate/local-command"}, {INSTANCE_COPIES: "{not json"}, "not JSON"),
        ({"image": "img"}, {HOST_VOLUMES: json.dumps({"/a": 1})}, "JSON object of strings"),
    ],
)
def test_what_no_instance_could_run_with_is_refused_before_any_starts(
    container: dict[str, object], annotations: dict[str, str], message: str
) -> None:
    with pytest.raises(EmulatorError, match=message):
        check(container, annotations)


def test_image_revision_argv_mounts_secrets_read_only_and_maps_command_to_entrypoint(tmp_path: Path) -> None:
    container = {
        "image": "localhost/api:1",
        "command": ["/bin/serve", "--fast"],
        "args": ["--port-from-env"],
        "volumeMounts": [{"name": "s", "mountPath": "/secrets"}],
    }
    env = {"K_SERVICE": "api", "K_REVISION": "api-00002-abc", "K_CONFIGURATION": "api", "MODE": "x"}
    runner = default_runner(container, env, tmp_path, annotations={}, folder=tmp_path / "i")
    assert isinstance(runner, ContainerRunner)
    argv = runner.command(9001)
    assert f"{(tmp_path / 'secrets').resolve()}:/secrets:ro" in argv
    tail = argv[argv.index("--entrypoint") :]
    assert tail == ["--entrypoint", "/bin/serve", "localhost/api:1", "--fast", "--port-from-env"]
    assert runner.revision == "api-00002-abc" and runner.env == {"MODE": "x"}
    assert "x" not in argv  # values travel in podman's environment, never on its argv
    assert "TMPDIR" not in runner.env  # a folder of this machine means nothing inside the container


def test_image_revision_mounts_host_volumes_read_only(tmp_path: Path) -> None:
    annotations = {HOST_VOLUMES: json.dumps({str(tmp_path / "keys"): "/var/secrets/keys"})}
    runner = default_runner({"image": "img"}, {}, tmp_path, annotations=annotations, folder=tmp_path / "i")
    assert isinstance(runner, ContainerRunner)
    assert f"{(tmp_path / 'keys').resolve()}:/var/secrets/keys:ro" in runner.command(9001)
