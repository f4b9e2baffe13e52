"""The deploy options whose last deploy ``gcloud_output`` describes, for the plan and read-back tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudgate.deploy.options import DeployOptions
from tests.unit.deploy import gcloud_output as out


@pytest.fixture
def options(tmp_path: Path) -> DeployOptions:
    """``cloudgate deploy --image IMAGE --invoker INVOKER --docs-users-file users.txt --keys-file keys.json``."""
    (tmp_path / "users.txt").write_text("alice:hash\n")
    (tmp_path / "keys.json").write_text('{"keys": []}\n')
    return DeployOptions(
        project=out.PROJECT, region=out.REGION, service=out.SERVICE, image=out.IMAGE, invokers=(out.INVOKER,),
        docs_users_file=tmp_path / "users.txt", keys_file=tmp_path / "keys.json",
    )  # fmt: skip
