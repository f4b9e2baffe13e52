"""Token sources: each one applies, skips with a reason, or fails with an error that says what to do."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest

from cloudgate.client.gcloud import GcloudSource
from cloudgate.client.metadata import MetadataSource
from cloudgate.client.provider import TokenProvider
from cloudgate.client.sources import EnvironmentSource, ImpersonationSource, KeyFileSource
from cloudgate.errors import ConfigError, NoTokenSourceError, TokenSourceError

from .fake_google import FakeGoogle

AUD = "https://svc-abc-uc.a.run.app"
SA = "invoker@p.iam.gserviceaccount.com"
WriteJson = Callable[[str, dict[str, Any]], Path]


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def test_key_file_mints_a_token_for_the_audience(fake_google: FakeGoogle, write_json: WriteJson) -> None:
    path = write_json("key.json", fake_google.key_file(SA))
    token = KeyFileSource(path).fetch(AUD)
    assert token is not None
    assert _claims(token.value)["aud"] == AUD
    assert token.email == SA
    assert fake_google.issued[AUD] == 1


def test_key_file_source_skips_when_no_file_is_given() -> None:
    source = KeyFileSource(None)
    assert source.fetch(AUD) is None
    assert "--credentials" in source.skip_reason


def test_a_deleted_key_says_to_create_a_new_one(fake_google: FakeGoogle, write_json: WriteJson) -> None:
    info = fake_google.key_file(SA)
    del fake_google.keys[info["private_key_id"]]
    with pytest.raises(TokenSourceError, match="deleted, disabled or has expired") as caught:
        KeyFileSource(write_json("key.json", info)).fetch(AUD)
    assert "PRIVATE KEY" not in str(caught.value)


def test_a_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        KeyFileSource(tmp_path / "nope.json").fetch(AUD)


def test_a_file_without_a_type_asks_if_it_is_a_credentials_file(write_json: WriteJson) -> None:
    """A JSON file with no "type" says so (not "has type None") and asks whether it is a Google credentials file."""
    with pytest.raises(ConfigError, match='has no "type" field: is it a Google credentials file') as caught:
        KeyFileSource(write_json("some.json", {"name": "not credentials"})).fetch(AUD)
    assert "None" not in str(caught.value)


def test_a_broken_key_file_never_shows_its_contents(write_json: WriteJson) -> None:
    """A key file missing its other fields is refused without quoting its (real, freshly generated) private key."""
    from cryptography.hazmat.primitives import serialization

    from tests.keys import new_rsa_key

    pem = (
        new_rsa_key()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )
    path = write_json("key.json", {"type": "service_account", "private_key": pem})
    with pytest.raises(ConfigError, match="not a valid service-account key") as caught:
        KeyFileSource(path).fetch(AUD)
    assert pem.splitlines()[1] not in str(caught.value)


def test_google_application_credentials_is_used_when_set(
    fake_google: FakeGoogle, write_json: WriteJson, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(write_json("key.json", fake_google.key_file(SA))))
    token = EnvironmentSource().fetch(AUD)
    assert token is not None and token.email == SA


def test_user_credentials_in_the_environment_are_skipped_without_a_target(
    fake_google: FakeGoogle, write_json: WriteJson, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(write_json("u.json", fake_google.user_file("me@x.com"))))
    source = EnvironmentSource()
    assert source.fetch(AUD) is None
    assert "user credentials" in source.skip_reason


def test_an_explicit_user_file_without_a_target_says_to_impersonate(
    fake_google: FakeGoogle, write_json: WriteJson
) -> None:
    with pytest.raises(TokenSourceError, match="impersonate a service account"):
        KeyFileSource(write_json("u.json", fake_google.user_file("me@x.com"))).fetch(AUD)


def test_an_impersonated_service_account_file_calls_generate_id_token(
    fake_google: FakeGoogle, write_json: WriteJson, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_google.creators[SA] = {"user:me@x.com"}
    info = {
        "type": "impersonated_service_account",
        "service_account_impersonation_url": (
            f"{fake_google.url}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken"
        ),
        "delegates": [],
        "source_credentials": fake_google.user_file("me@x.com"),
    }
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(write_json("imp.json", info)))
    token = EnvironmentSource().fetch(AUD)
    assert token is not None and token.email == SA and _claims(token.value)["aud"] == AUD


def test_impersonation_from_the_users_login(
    fake_google: FakeGoogle, write_json: WriteJson, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_google.creators[SA] = {"user:me@x.com"}
    adc = Path(os.environ["CLOUDSDK_CONFIG"]) / "application_default_credentials.json"
    adc.write_text(json.dumps(fake_google.user_file("me@x.com")))
    monkeypatch.setenv("CLOUDGATE_IAM_ENDPOINT", fake_google.url)
    monkeypatch.setenv("CLOUDGATE_IMPERSONATE_SERVICE_ACCOUNT", SA)
    token = ImpersonationSource().fetch(AUD)
    assert token is not None and token.email == SA


def test_impersonation_without_the_token_creator_role_names_the_role(
    fake_google: FakeGoogle, write_json: WriteJson, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOUDGATE_IAM_ENDPOINT", fake_google.url)
    path = write_json("u.json", fake_google.user_file("me@x.com"))
    with pytest.raises(TokenSourceError, match=r"roles/iam\.serviceAccountTokenCreator"):
        KeyFileSource(path, impersonate=SA).fetch(AUD)


def test_impersonation_skips_without_a_target() -> None:
    source = ImpersonationSource()
    assert source.fetch(AUD) is None
    assert "CLOUDGATE_IMPERSONATE_SERVICE_ACCOUNT" in source.skip_reason


def test_metadata_server_token(fake_google: FakeGoogle, monkeypatch: pytest.MonkeyPatch) -> None:
    host = fake_google.url.removeprefix("http://")
    monkeypatch.setenv("GCE_METADATA_HOST", host)
    monkeypatch.setenv("GCE_METADATA_IP", host)
    token = MetadataSource().fetch(AUD)
    assert token is not None and token.email == fake_google.metadata_email


def test_metadata_source_skips_when_nothing_answers() -> None:
    source = MetadataSource()
    assert source.fetch(AUD) is None
    assert "127.0.0.1:9" in source.skip_reason


def test_gcloud_source_skips_when_gcloud_is_missing() -> None:
    source = GcloudSource(executable="gcloud-not-installed")
    assert source.fetch(AUD) is None
    assert "not installed" in source.skip_reason


def test_no_credentials_lists_every_source_tried() -> None:
    provider = TokenProvider(sources=[KeyFileSource(None), EnvironmentSource(), MetadataSource()])
    with pytest.raises(NoTokenSourceError) as caught:
        provider.get(AUD)
    message = str(caught.value)
    for name in ("credentials file", "GOOGLE_APPLICATION_CREDENTIALS", "metadata server"):
        assert name in message
