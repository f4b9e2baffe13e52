"""The deploy's local secret files and the options whose last deploy ``gcloud_output`` describes."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudgate.deploy.options import DeployOptions
from tests.unit.deploy import gcloud_output as out


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A folder holding ``users.txt`` (one argon2-hashed docs user) and ``keys.json`` (no keys)."""
    (tmp_path / "users.txt").write_text("alice:$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA\n")
    (tmp_path / "keys.json").write_text('{"keys": []}\n')
    return tmp_path


@pytest.fixture
def options(files: Path) -> DeployOptions:
    """``cloudgate deploy --image IMAGE --invoker INVOKER --docs-users-file users.txt --keys-file keys.json``."""
    return DeployOptions(
        project=out.PROJECT, region=out.REGION, service=out.SERVICE, image=out.IMAGE, invokers=(out.INVOKER,),
        docs_users_file=files / "users.txt", keys_file=files / "keys.json",
    )  # fmt: skip
