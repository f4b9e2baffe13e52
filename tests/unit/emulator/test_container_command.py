"""ContainerRunner's podman command line (no podman needed): values stay off the argv, the port stays on loopback."""

from __future__ import annotations

from pathlib import Path

from cloudgate.emulator.serving.container import ContainerRunner, revision_name


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
