"""Which runner a revision gets, and the exact podman argv of an image revision (podman itself is not run here)."""

from __future__ import annotations

from pathlib import Path

from cloudgate.emulator.serving.container import ContainerRunner
from cloudgate.emulator.serving.revisions import default_runner
from cloudgate.emulator.serving.runner import ProcessRunner


def test_local_command_image_runs_command_and_args_here(tmp_path: Path) -> None:
    container = {"image": "cloudgate/local-command", "command": ["python3"], "args": ["-m", "app"]}
    runner = default_runner(container, {"K_SERVICE": "api"}, tmp_path)
    assert isinstance(runner, ProcessRunner)
    assert runner.argv == ["python3", "-m", "app"]
    assert runner.env["CLOUDGATE_MOUNT_ROOT"] == str(tmp_path)


def test_image_revision_argv_mounts_secrets_read_only_and_maps_command_to_entrypoint(tmp_path: Path) -> None:
    container = {
        "image": "localhost/api:1",
        "command": ["/bin/serve", "--fast"],
        "args": ["--port-from-env"],
        "volumeMounts": [{"name": "s", "mountPath": "/secrets"}],
    }
    env = {"K_SERVICE": "api", "K_REVISION": "api-00002-abc", "K_CONFIGURATION": "api", "MODE": "x"}
    runner = default_runner(container, env, tmp_path)
    assert isinstance(runner, ContainerRunner)
    argv = runner.command(9001)
    assert f"{(tmp_path / 'secrets').resolve()}:/secrets:ro" in argv
    tail = argv[argv.index("--entrypoint") :]
    assert tail == ["--entrypoint", "/bin/serve", "localhost/api:1", "--fast", "--port-from-env"]
    assert runner.revision == "api-00002-abc" and runner.env == {"MODE": "x"}
    assert "x" not in argv  # values travel in podman's environment, never on its argv
