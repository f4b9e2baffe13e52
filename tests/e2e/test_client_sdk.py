"""The client SDK against the real emulator and its Cloud Run front end: every token source that runs here,
token reuse and refresh counted by the emulator, retries on injected 503s, and the error messages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudgate.client import Client, RetryPolicy, TokenProvider
from cloudgate.client.gcloud import GcloudSource
from cloudgate.client.metadata import MetadataSource
from cloudgate.client.sources import EnvironmentSource, ImpersonationSource, KeyFileSource
from cloudgate.emulator.identity import iam
from cloudgate.errors import NoTokenSourceError, RequestError, TokenSourceError
from tests.e2e.stack import EmulatorStack

pytestmark = pytest.mark.e2e

FAST = RetryPolicy(attempts=4, backoff=0.05, max_backoff=0.1)


@pytest.fixture(autouse=True)
def gcloud_config(tmp_path: Path) -> Iterator[Path]:
    """A throwaway gcloud configuration and no metadata server, for every test here."""
    config = tmp_path / "gcloud"
    config.mkdir()
    os.environ["CLOUDSDK_CONFIG"] = str(config)
    os.environ["CLOUDSDK_CORE_CHECK_GCE_METADATA"] = "false"
    os.environ["GCE_METADATA_IP"] = "127.0.0.1:9"
    yield config


def _whoami(stack: EmulatorStack, provider: TokenProvider) -> str:
    """Call the echo service through the front end; return the email of the token that reached it."""
    with Client(stack.url, tokens=provider, retry=FAST) as client:
        body = client.get("/echo").json()
    assert body["headers"]["x-serverless-authorization"][0].endswith("SIGNATURE_REMOVED_BY_GOOGLE")
    token = provider.get(stack.url)
    assert token.email is not None
    return token.email


def test_key_file_source_calls_the_service(emulator_stack: EmulatorStack) -> None:
    provider = TokenProvider(sources=[KeyFileSource(emulator_stack.invoker_key)])
    assert _whoami(emulator_stack, provider) == emulator_stack.invoker_email


def test_google_application_credentials_source(emulator_stack: EmulatorStack) -> None:
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(emulator_stack.invoker_key)
    assert _whoami(emulator_stack, TokenProvider()) == emulator_stack.invoker_email


def test_metadata_server_source(emulator_stack: EmulatorStack) -> None:
    host = emulator_stack.emulator_url.removeprefix("http://")
    os.environ["GCE_METADATA_HOST"] = os.environ["GCE_METADATA_IP"] = host
    provider = TokenProvider()
    assert _whoami(emulator_stack, provider) == emulator_stack.invoker_email
    assert provider.get(emulator_stack.url).source == "metadata server"


def test_impersonation_from_the_users_login(emulator_stack: EmulatorStack, gcloud_config: Path) -> None:
    shutil.copy(emulator_stack.user_credentials, gcloud_config / "application_default_credentials.json")
    os.environ["CLOUDGATE_IAM_ENDPOINT"] = emulator_stack.emulator_url
    provider = TokenProvider(impersonate=emulator_stack.invoker_email)
    assert _whoami(emulator_stack, provider) == emulator_stack.invoker_email
    assert provider.get(emulator_stack.url).source.startswith("impersonation")


def test_impersonation_without_token_creator_names_the_role(emulator_stack: EmulatorStack, gcloud_config: Path) -> None:
    shutil.copy(emulator_stack.user_credentials, gcloud_config / "application_default_credentials.json")
    os.environ["CLOUDGATE_IAM_ENDPOINT"] = emulator_stack.emulator_url
    source = ImpersonationSource(emulator_stack.outsider_email)
    with pytest.raises(TokenSourceError, match=r"roles/iam\.serviceAccountTokenCreator"):
        source.fetch(emulator_stack.url)


def test_gcloud_source_with_a_throwaway_config(emulator_stack: EmulatorStack) -> None:
    subprocess.run(
        ["gcloud", "auth", "activate-service-account", f"--key-file={emulator_stack.invoker_key}", "--quiet"],
        check=True,
        capture_output=True,
    )
    provider = TokenProvider(sources=[GcloudSource()])
    assert _whoami(emulator_stack, provider) == emulator_stack.invoker_email


def test_no_credentials_lists_what_was_tried(emulator_stack: EmulatorStack) -> None:
    with pytest.raises(NoTokenSourceError) as caught:
        TokenProvider().get(emulator_stack.url)
    message = str(caught.value)
    for source in ("credentials file", "GOOGLE_APPLICATION_CREDENTIALS", "metadata server", "impersonation", "gcloud"):
        assert f"- {source}" in message


def test_n_calls_mint_one_token(emulator_stack: EmulatorStack) -> None:
    audience = "https://reuse.example"  # a custom audience of its own, so the count is this test's
    iam.ensure_service(emulator_stack.store, "dev", url=emulator_stack.url, audiences=[audience])
    before = emulator_stack.counter("id_tokens_by_audience", audience)
    with Client(emulator_stack.url, credentials=emulator_stack.invoker_key, audience=audience) as client:
        for _ in range(50):
            client.get("/echo")
    assert emulator_stack.counter("id_tokens_by_audience", audience) == before + 1


def test_a_token_is_refreshed_at_expiry(emulator_stack: EmulatorStack) -> None:
    """A 60 s token is reused, then refreshed once the client's clock passes half its lifetime (the test moves that
    clock; the emulator still checks the real time, which a 60 s token survives however loaded the machine)."""
    now = [0.0]
    tokens = TokenProvider(sources=[KeyFileSource(emulator_stack.outsider_key)], clock=lambda: now[0])
    emulator_stack.set_token_lifetime(60)
    try:
        before = emulator_stack.counter("id_tokens_by_audience", emulator_stack.url)
        with Client(emulator_stack.url, tokens=tokens, raise_for_status=False) as client:
            client.get("/echo")
            first = tokens.get(emulator_stack.url)  # the cached token: its times, not the machine's, set the clock
            now[0] = first.issued_at + 1
            client.get("/echo")
            assert emulator_stack.counter("id_tokens_by_audience", emulator_stack.url) == before + 1
            now[0] = first.issued_at + 31  # past half the lifetime: refreshed before it expires
            client.get("/echo")
        assert emulator_stack.counter("id_tokens_by_audience", emulator_stack.url) == before + 2
    finally:
        emulator_stack.set_token_lifetime(3600)


def test_injected_503s_are_retried(emulator_stack: EmulatorStack) -> None:
    before = emulator_stack.counter("frontend_refused", "injected_fault")
    with Client(emulator_stack.url, credentials=emulator_stack.invoker_key, retry=FAST) as client:
        emulator_stack.fail_next(2)
        assert client.get("/echo").status_code == 200
    assert emulator_stack.counter("frontend_refused", "injected_fault") == before + 2


def test_not_an_invoker_says_to_grant_run_invoker(emulator_stack: EmulatorStack) -> None:
    client = Client(emulator_stack.url, credentials=emulator_stack.outsider_key)
    with client, pytest.raises(RequestError, match=r"roles/run\.invoker") as caught:
        client.get("/echo")
    assert caught.value.status == 403 and emulator_stack.outsider_email in str(caught.value)


def test_wrong_audience_says_which_audience_was_used(emulator_stack: EmulatorStack) -> None:
    client = Client(emulator_stack.url, credentials=emulator_stack.invoker_key, audience="https://wrong.example")
    with client, pytest.raises(RequestError, match="--audience") as caught:
        client.get("/echo")
    assert caught.value.status == 401 and "https://wrong.example" in str(caught.value)


def test_a_deleted_key_says_to_make_a_new_one(emulator_stack: EmulatorStack, tmp_path: Path) -> None:
    info = iam.create_key(
        emulator_stack.store, emulator_stack.invoker_email, token_uri=f"{emulator_stack.emulator_url}/token"
    )
    iam.delete_key(emulator_stack.store, emulator_stack.invoker_email, info["private_key_id"])
    path = tmp_path / "old-key.json"
    path.write_text(json.dumps(info))
    with pytest.raises(TokenSourceError, match="deleted, disabled or has expired") as caught:
        KeyFileSource(path).fetch(emulator_stack.url)
    assert "PRIVATE KEY" not in str(caught.value)


def test_environment_source_skips_user_credentials(emulator_stack: EmulatorStack) -> None:
    os.environ["GOOGLE_APPLICATION_CREDENTIALS"] = str(emulator_stack.user_credentials)
    assert EnvironmentSource().fetch(emulator_stack.url) is None


def test_metadata_source_is_fast_off_google_cloud() -> None:
    """The detection ping gives up after 0.5 s; the bound is ten times that (httpx's own default is 5 s), so load
    on the machine cannot fail it but a ping without its short timeout would."""
    started = time.monotonic()
    assert MetadataSource().fetch("https://x.example") is None
    assert time.monotonic() - started < 5
