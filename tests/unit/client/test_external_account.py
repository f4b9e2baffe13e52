"""Workload Identity Federation configs: what is refused before any request, and where Google's URLs go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudgate.client.external_account import DEFAULT_STS_ENDPOINT, id_token_from_external_account, redirect_google_url
from cloudgate.client.keyfile import id_token_from_file
from cloudgate.errors import ConfigError, TokenSourceError

_PROVIDER = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci-pool/providers/github"
_IMPERSONATION = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/ci@p.iam.gserviceaccount.com:generateAccessToken"


def _config(token_file: Path, **changes: object) -> dict[str, object]:
    """The shape `gcloud iam workload-identity-pools create-cred-config --credential-source-file` writes."""
    config: dict[str, object] = {
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": _PROVIDER,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {"file": str(token_file)},
        "service_account_impersonation_url": _IMPERSONATION,
    }
    config.update(changes)
    return config


def test_a_missing_subject_token_file_is_named_as_such_not_as_an_sts_refusal(tmp_path: Path) -> None:
    with pytest.raises(TokenSourceError, match="could not get the subject token") as caught:
        id_token_from_external_account(_config(tmp_path / "absent.jwt"), "https://svc", where="f", label="f")
    assert "Security Token Service" not in str(caught.value)


def test_a_config_without_a_credential_source_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path / "t.jwt")
    del config["credential_source"]
    with pytest.raises(ConfigError, match="not a valid external_account"):
        id_token_from_external_account(config, "https://svc", where="f", label="f")


def test_the_file_reader_dispatches_external_account_configs(tmp_path: Path) -> None:
    path = tmp_path / "wif.json"
    config = _config(tmp_path / "t.jwt")
    del config["service_account_impersonation_url"]
    path.write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="names no service account"):
        id_token_from_file(path, "https://svc", impersonate=None, label="credentials file")


def test_googles_sts_url_is_redirected_only_when_an_endpoint_is_set() -> None:
    url = "https://sts.googleapis.com/v1/token"
    assert redirect_google_url(url, DEFAULT_STS_ENDPOINT, DEFAULT_STS_ENDPOINT) == url
    assert redirect_google_url(url, DEFAULT_STS_ENDPOINT, "http://127.0.0.1:9/sts") == "http://127.0.0.1:9/sts/v1/token"
    assert redirect_google_url("https://sts.example/v1/token", DEFAULT_STS_ENDPOINT, "http://127.0.0.1:9/sts") == (
        "https://sts.example/v1/token"
    )
