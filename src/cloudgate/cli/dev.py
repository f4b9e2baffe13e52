"""``cloudgate dev`` (``make run``): the example service as a private Cloud Run service, on this machine.

Starts the emulator (Google's endpoints on ``--emulator-port``) and deploys to it, through its admin API, the
Cloud Run service ``dev``: ``cloudgate serve`` in Cloud Run mode (identity ``cloud-run``, as in production) as a
local-command revision, its front end on ``--port`` (``emulated_service.py``). ``gcloud run services list`` shows
it; its IAM policy is changed with gcloud like any service's.

Before the emulator starts (nothing else writes its state then), it prepares under ``--state-dir`` (default
``.cloudgate/dev``, git-ignored, mode 0700): a service account with ``roles/run.invoker`` on ``dev`` and one
without (key files), a user allowed to impersonate the invoker, a docs user with a fresh password and a fresh API
key; once ``dev`` is ready it prints how to call it and writes ``session.json`` (mode 0600) for scripts and tests.
Ctrl-C or SIGTERM stops everything.

The service process inherits this command's environment, so the app's own settings (the example's
``CLOUDGATE_DATA_DIR``) are set there: ``CLOUDGATE_DATA_DIR=/tmp/data cloudgate dev``.

``--instances N`` (or ``--min-instances``/``--max-instances``/``--concurrency``) runs the service scaled out, as
Cloud Run does: each instance is its own process with its own copy of the data folder and, for an SQLite key
store, of the key file (Cloud Run instances share no disk), so a key created after start is unknown to them;
``--keystore firestore://...`` shares keys between instances.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import typer

from cloudgate import codes, env_vars
from cloudgate.errors import ConfigError
from cloudgate.log_lines import configure_text_logging

_SERVICE = "dev"
_USER = "developer@example.com"
#: The example app's data folder setting (app/settings.py); only copied per instance when scaled out.
_DATA_DIR_VAR = "CLOUDGATE_DATA_DIR"
#: Run in a short-lived process with the service's environment: the app's imports and settings stay out of this one.
_SCOPES_PROBE = """
import json, sys
from pathlib import Path
from fastapi import FastAPI
from cloudgate.service.openapi import declared_scopes
from cloudgate.errors import ConfigError
from cloudgate.service.server import load_app
try:
    app = load_app(sys.argv[1], Path.cwd())
except ConfigError as exc:  # cloudgate's own words suffice; a traceback only for the app's own failures
    sys.exit(f"{_CONFIG_ERROR}{exc}")
print(json.dumps(sorted(declared_scopes(app)) if isinstance(app, FastAPI) else []))
"""
_CONFIG_ERROR = "cloudgate-config-error: "


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically, readable by the owner only (the files hold secrets)."""
    from cloudgate.emulator.core.secret_store import write_private

    write_private(path, json.dumps(data, indent=2).encode())


def _key_file(store: Any, account: str, path: Path, token_uri: str) -> None:
    """Reuse a key file that still works; otherwise drop its key and write a new one."""
    from cloudgate.emulator.identity import iam

    email = store.current().account_email(account)
    if path.exists():
        with contextlib.suppress(ValueError, OSError, KeyError):
            old = json.loads(path.read_text())
            registered = old["private_key_id"] in store.current().account(email).keys
            if registered and old["token_uri"] == token_uri:
                return
            if registered:
                iam.delete_key(store, email, old["private_key_id"])
    _write_private(path, iam.create_key(store, email, token_uri=token_uri))


def _declared_scopes(app: str, keystore: str) -> list[str]:
    """The API key scopes the app's routes declare (the session key gets them all)."""
    env = {**os.environ, env_vars.IDENTITY: "off", env_vars.KEYSTORE: keystore}
    result = subprocess.run(
        [sys.executable, "-c", f"_CONFIG_ERROR = {_CONFIG_ERROR!r}\n{_SCOPES_PROBE}", app],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if result.returncode != 0 and result.stderr.startswith(_CONFIG_ERROR):
        raise ConfigError(result.stderr.strip().removeprefix(_CONFIG_ERROR))
    if result.returncode != 0:
        raise ConfigError(f"cannot load {app} to read the scopes it declares:\n{result.stderr.strip()[-3000:]}")
    scopes = json.loads(result.stdout.strip().splitlines()[-1])
    return [str(scope) for scope in scopes]


def _prepare(
    state_dir: Path, url: str, emulator_url: str, keystore_url: str | None, scopes: list[str]
) -> dict[str, Any]:
    """Accounts, keys, user, bindings, docs user and API key; returns the session (with its secrets)."""
    from cloudgate.emulator.core.state import StateStore
    from cloudgate.emulator.identity import iam
    from cloudgate.google import INVOKER_ROLE
    from cloudgate.service.keys import open_keystore
    from cloudgate.service.passwords import hash_password

    store = StateStore(state_dir / "emulator")
    token_uri = f"{emulator_url}/token"
    invoker = iam.create_account(store, "dev-invoker", display_name="cloudgate dev: may invoke")
    outsider = iam.create_account(store, "dev-outsider", display_name="cloudgate dev: no role")
    paths = {"invoker": state_dir / "invoker-key.json", "outsider": state_dir / "outsider-key.json"}
    _key_file(store, invoker, paths["invoker"], token_uri)
    _key_file(store, outsider, paths["outsider"], token_uri)
    user_file = state_dir / "user-credentials.json"
    _write_private(user_file, iam.create_user(store, _USER, token_uri=token_uri))
    iam.grant_token_creator(store, invoker, f"user:{_USER}")
    iam.ensure_service(store, _SERVICE, url=url)
    with store.edit() as state:  # exactly one invoker: the dev-invoker account
        state.services[_SERVICE].bindings[INVOKER_ROLE] = [f"serviceAccount:{invoker}"]
        state.metadata_account = invoker

    keystore_url = keystore_url or f"sqlite:///{(state_dir / 'keys.sqlite3').resolve()}"
    keystore = open_keystore(keystore_url)
    with contextlib.suppress(ValueError, OSError, KeyError):  # a run that crashed left its session behind
        _revoke(keystore_url, json.loads((state_dir / "session.json").read_text())["api_key_id"])
    record, api_key = keystore.create("dev", scopes)
    keystore.close()
    password = secrets.token_urlsafe(15)
    return {
        "url": url,
        "emulator_url": emulator_url,
        "certs_url": f"{emulator_url}/oauth2/v1/certs",
        "token_uri": token_uri,
        "service": _SERVICE,
        "docs_url": f"{url}/docs",
        "docs_user": "dev",
        "docs_password": password,
        "docs_users_entry": f"dev:{hash_password(password)}",
        "api_key": api_key,
        "api_key_id": record.key_id,
        "api_key_scopes": scopes,
        "keystore": keystore_url,
        "invoker_email": invoker,
        "outsider_email": outsider,
        "invoker_key_file": str(paths["invoker"].resolve()),
        "outsider_key_file": str(paths["outsider"].resolve()),
        "user_email": _USER,
        "user_credentials_file": str(user_file.resolve()),
        "emulator_state_dir": str(store.folder.resolve()),
    }


def _revoke(keystore_url: str, key_id: str) -> None:
    import datetime

    from cloudgate.service.keys import open_keystore

    keystore = open_keystore(keystore_url)
    try:
        if (record := keystore.get(key_id)) is not None and record.revoked_at is None:
            keystore.revoke(key_id, datetime.datetime.now(datetime.UTC))
    finally:
        keystore.close()


def _serve_command(app: str) -> list[str]:
    script = Path(sys.executable).parent / "cloudgate"
    if script.exists():
        return [str(script), "serve", app]
    found = shutil.which("cloudgate")
    if found:
        return [found, "serve", app]
    return [sys.executable, "-c", "from cloudgate.cli.main import main; main()", "serve", app]


def _image_share_hint(keystore: str) -> str:
    from cloudgate.cli.dev_image import share_hint

    return share_hint(keystore)


def _more_keys(session: dict[str, Any], cloudgate: str, scope: str) -> str:
    """How to make another key that this run's service accepts."""
    create = f"{cloudgate} keys create NAME --scope {scope} --keystore {session['keystore']}"
    if session.get("instance_key_copies"):
        # Each instance copied the SQLite file when it started, as a Cloud Run instance has only the image's files.
        return (
            "  more keys:         each instance has its own copy of the SQLite key file, made when it started\n"
            f"                     (Cloud Run instances share no disk): a key made now reaches none of them. Make it\n"
            f"                     before starting ({create}),\n"
            "                     or share keys: --keystore firestore://demo-project/keys with FIRESTORE_EMULATOR_HOST"
        )
    return f"  more keys:         {create}" + (_image_share_hint(session["keystore"]) if session.get("image") else "")


def _banner(session: dict[str, Any]) -> str:
    url, key = session["url"], session["invoker_key_file"]
    snippet = (
        "import google.auth.transport.requests, httpx\n"
        "from google.oauth2 import service_account\n"
        f'creds = service_account.IDTokenCredentials.from_service_account_file("{key}", target_audience="{url}")\n'
        "creds.refresh(google.auth.transport.requests.Request())\n"
        f'headers = {{"X-Serverless-Authorization": f"Bearer {{creds.token}}", "{codes.API_KEY_HEADER}": "{session["api_key"]}"}}\n'
        f'print(httpx.get("{url}/v1/whoami", headers=headers).json())'
    )
    cloudgate = "cloudgate" if shutil.which("cloudgate") else _serve_command("")[0]
    scope = session["api_key_scopes"][0] if session["api_key_scopes"] else "SCOPE"
    curl = (
        f'curl -H "X-Serverless-Authorization: Bearer $({cloudgate} token {url} --credentials {key})" '
        f'-H "{codes.API_KEY_HEADER}: {session["api_key"]}" {url}/v1/whoami'
    )
    return "\n".join(
        [
            "",
            f"cloudgate dev: a private Cloud Run service at {url}  (emulated Google: {session['emulator_url']})",
            f"  invoker key file:  {key}",
            f"  no-role key file:  {session['outsider_key_file']}",
            f"  API key:           {session['api_key']}",
            f"  API key scopes:    {', '.join(session['api_key_scopes']) or '(none: the app declares none)'}",
            _more_keys(session, cloudgate, scope),
            f"  docs:              {cloudgate} proxy {url} --credentials {key} --port 8081",
            f"                     then open http://127.0.0.1:8081/docs  (user dev, password {session['docs_password']})",
            "",
            # The snippets start at column 0 so they paste as they are (an indented Python line does not run).
            f"Python (paste into {sys.executable}):",
            snippet,
            "",
            "curl:",
            curl,
            "",
            f"Session details: {session['session_file']}",
            "Stop: Ctrl-C (revokes this session's API key; the key files stay for the next run)",
            "",
        ]
    )


def _instance_copies(keystore: str) -> dict[str, str]:
    """What each instance gets its own copy of when scaled out: the data folder and an SQLite key file.

    ``CLOUDGATE_DATA_DIR`` is the example app's data folder (app/settings.py), as the service inherits it from
    this process; each Cloud Run instance has its own files, so a key created after start is unknown to them.
    """
    copies = {_DATA_DIR_VAR: str(Path(os.environ.get(_DATA_DIR_VAR, "data")).resolve())}
    if keystore.startswith("sqlite:///"):  # what the image held when the instance started, and no more
        copies[env_vars.KEYSTORE] = keystore
    return copies


def dev(
    port: int = typer.Option(8080, help="Port of the service URL (the Cloud Run front end)."),
    emulator_port: int = typer.Option(8089, help="Port of the emulated Google endpoints."),
    state_dir: Path = typer.Option(Path(".cloudgate/dev"), help="Folder for keys, state and session.json."),
    app: str = typer.Option("app.main:create_app", help="The service (module:attribute) to run."),
    keystore: str | None = typer.Option(
        None,
        help="Key store URL (default: an SQLite file in --state-dir); firestore://... shares keys between instances.",
    ),
    instances: int | None = typer.Option(None, min=1, max=100, help="Run exactly N instances (min = max = N)."),
    min_instances: int | None = typer.Option(None, min=0, max=100, help="Instances kept running when idle."),
    max_instances: int | None = typer.Option(None, min=1, max=100, help="Most instances started under load."),
    concurrency: int | None = typer.Option(None, min=1, max=1000, help="Requests one instance takes at once (80)."),
    http2: bool = typer.Option(
        False,
        "--http2",
        help="Deploy as with `--use-http2`: the service speaks h2c (`cloudgate serve --http2`) and the front end "
        "lets request bodies over 32 MiB through.",
    ),
    image: str | None = typer.Option(
        None,
        help="Run this container image (podman) instead of --app as a local process, as Cloud Run runs a "
        "revision; build one with scripts/build-image.sh.",
    ),
) -> None:
    """Run the example service as a private Cloud Run service on this machine (what `make run` does)."""
    from cloudgate.cli import emulated_service
    from cloudgate.emulator.core.state import read_address
    from cloudgate.emulator.server import run
    from cloudgate.emulator.serving.listeners import bind

    scaled = (instances, min_instances, max_instances, concurrency) != (None, None, None, None)
    scale = emulated_service.scale_flags(instances, min_instances, max_instances, concurrency)

    configure_text_logging(logging.INFO)  # one line per record: a request path cannot forge one
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if http2:
        from cloudgate.service.server import check_http2_server

        check_http2_server()  # before anything is prepared: name the extra to install
    for taken, flag in ((port, "--port"), (emulator_port, "--emulator-port")):
        bind("127.0.0.1", taken, flag=flag).close()  # fail before preparing anything if a port is taken
    if (running := read_address(state_dir / "emulator")) is not None:  # its state has one writer: that emulator
        raise ConfigError(f"an emulator already runs on {state_dir / 'emulator'} (at {running}): stop it first")
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(state_dir, 0o700)
    url, emulator_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{emulator_port}"
    scopes = _declared_scopes(app, f"sqlite:///{(state_dir / 'keys.sqlite3').resolve()}")
    if image is not None:
        from cloudgate.cli import dev_image

        if keystore is not None:
            raise ConfigError("--image uses a key file mounted into the container: leave out --keystore")
        keystore = dev_image.keystore_url(state_dir)
    session = _prepare(state_dir, url, emulator_url, keystore, scopes)
    if image is not None:
        dev_image.share_key_file(state_dir)
        session["image"] = image
    session_file = state_dir / "session.json"
    session["session_file"] = str(session_file.resolve())
    session["instance_key_copies"] = scaled and image is None and session["keystore"].startswith("sqlite:")
    shared_key_file = not scaled and image is None and session["keystore"].startswith("sqlite:")
    env = {
        env_vars.IDENTITY: "cloud-run",
        env_vars.AUDIENCES: url,
        env_vars.DOCS_USERS: session.pop("docs_users_entry"),
        env_vars.KEYSTORE: session["keystore"],
        # One instance reads the key file `cloudgate keys` writes; scaled out, each reads its own copy.
        **({env_vars.KEYSTORE_SHARED: "true"} if shared_key_file else {}),
        env_vars.CERTS_URL: session["certs_url"],
        # Cloud Logging's JSON lines are for machines; a person at a terminal gets readable lines instead.
        env_vars.LOG_FORMAT: os.environ.get(env_vars.LOG_FORMAT, "text" if sys.stderr.isatty() else "json"),
        env_vars.HOST: "127.0.0.1",
        **({env_vars.HTTP2: "true"} if http2 else {}),
    }
    session["http2"] = http2
    if image is not None:
        env = dev_image.container_env(env)
        container = dev_image.container(image, state_dir, env)
    else:
        copies = _instance_copies(session["keystore"]) if scaled else None
        container = emulated_service.local_command(_serve_command(app), instance_copies=copies)
    service = emulated_service.knative_service(
        _SERVICE, container, env=env, scale=scale, http2=http2, made_by="cloudgate dev"
    )

    async def ready(ctx: Any) -> None:
        await emulated_service.deploy(ctx.base_url, _SERVICE, port, service)
        _write_private(session_file, session)
        typer.echo(_banner(session), err=True)

    try:
        run(state_dir / "emulator", port=emulator_port, on_ready=ready)
    finally:
        # The session ends here: its API key stops working and its file goes (the key files stay for next time).
        _revoke(session["keystore"], session["api_key_id"])
        with contextlib.suppress(FileNotFoundError):
            session_file.unlink()
        typer.echo(
            f"cloudgate dev: stopped; the session's API key {session['api_key_id']} is revoked "
            f"(the key files in {state_dir} stay for the next run)",
            err=True,
        )


def register(root: typer.Typer) -> None:
    root.command("dev")(dev)
