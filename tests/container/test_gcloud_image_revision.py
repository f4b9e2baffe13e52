"""``gcloud run deploy --image`` against the emulator runs the image with podman, its secrets mounted as files."""

from __future__ import annotations

import httpx
import pytest

from tests.container.conftest import Images, podman
from tests.e2e.gcloud_stack import GcloudStack


def test_gcloud_deploys_an_image_revision_that_reads_its_mounted_secret(
    built: Images, tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack = GcloudStack.start(tmp_path_factory.mktemp("gcloud-image"))  # inherits the podman settings of `built`
    try:
        stack.gcloud("secrets", "create", "token", "--data-file=-", stdin="first")
        stack.gcloud(
            "run", "deploy", "imaged", f"--image={built.myservice}", "--allow-unauthenticated",
            "--set-secrets=/secrets/token=token:latest",
        )  # fmt: skip
        url = stack.url_of("imaged")
        assert httpx.get(f"{url}/slow", params={"seconds": 0}, timeout=60).json() == {"slept": 0.0}
        names = podman("ps", "--filter", "label=cloudgate.emulator=1", "--format", "{{.Names}}").stdout.split()
        [name] = [n for n in names if n.startswith("cloudgate-imaged-00001-")]
        assert podman("exec", name, "cat", "/secrets/token").stdout == "first"
        stack.gcloud("secrets", "versions", "add", "token", "--data-file=-", stdin="second")
        assert podman("exec", name, "cat", "/secrets/token").stdout == "second"
    finally:
        stack.stop()
