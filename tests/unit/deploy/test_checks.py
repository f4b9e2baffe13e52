"""The ``CHECKS`` table is the one list: codes are unique, and ``cloudgate audit --help`` shows every audit check."""

from __future__ import annotations

import shlex
import subprocess

from cloudgate.deploy.audit import Target, audit_service
from cloudgate.deploy.checks import CHECKS
from tests.support import CLOUDGATE
from tests.unit.deploy import gcloud_output as out


def test_check_codes_are_unique() -> None:
    codes = [check.code for check in CHECKS]
    assert len(codes) == len(set(codes))


def test_audit_help_lists_every_audit_check_with_its_severity() -> None:
    env = {"COLUMNS": "400", "NO_COLOR": "1", "TERM": "dumb", "PATH": ""}
    done = subprocess.run([CLOUDGATE, "audit", "--help"], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    for check in CHECKS:
        assert (f"{check.code} ({check.severity}):" in done.stdout) is (not check.readback_only), check.code


def test_every_printed_fix_is_one_runnable_gcloud_command() -> None:
    service = out.service()
    service["metadata"]["annotations"]["run.googleapis.com/invoker-iam-disabled"] = "True"
    del service["spec"]["template"]["spec"]["serviceAccountName"]
    box = out.container(service)
    box["env"] += [
        {"name": "DATABASE_URL", "value": "postgres://app:hunter2@db/app"},
        {"name": "DB", "valueFrom": {"secretKeyRef": {"key": "latest", "name": "db"}}},
    ]
    service["status"]["conditions"][0] = {"status": "False", "type": "Ready", "message": "failed"}
    policy = out.policy()
    for member in ("allUsers", "domain:example.com", "group:ops@example.com"):
        policy["bindings"].append({"members": [member], "role": "roles/run.invoker"})
    project = out.project_policy()
    project["bindings"].append({"members": [f"serviceAccount:{out.RUNTIME}"], "role": "roles/iam.securityAdmin"})
    findings = audit_service(Target(out.SERVICE, out.PROJECT, out.REGION), service, policy, project)
    fixes = [f.fix for f in findings if f.fix]
    assert len(fixes) >= 9
    for fix in fixes:
        for command in fix.split(" && "):
            argv = shlex.split(command)
            assert argv[0] == "gcloud" and not any(a.startswith("(") for a in argv), fix
