"""``cloudgate keys create|list|revoke``: manage API keys. The secret is shown once, at creation, alone on stdout."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import typer

from cloudgate import env_vars
from cloudgate.errors import ConfigError

keys_app = typer.Typer(help="Create, list and revoke API keys (stored hashed).", no_args_is_help=True)

_KEYSTORE_OPTION = typer.Option(
    "sqlite:///.cloudgate/keys.sqlite3",
    "--keystore",
    envvar=env_vars.KEYSTORE,
    help="sqlite:///path, file:///path.json, or firestore://PROJECT/COLLECTION (firestore://PROJECT/DATABASE/COLLECTION for a named database)",
)
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(value: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w``, or an ISO date/datetime (UTC if no zone) -> an aware datetime."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(value.strip())
    if match:
        return now + timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"cannot read expiry {value!r}: use e.g. 30d, 12h, 2026-12-31 or 2026-12-31T18:00:00Z"
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when <= now:
        raise ConfigError(f"expiry {value!r} is in the past")
    return when


@keys_app.command("create")
def create(
    name: str = typer.Argument(..., help="A name for the key's holder, shown in logs (e.g. etl-nightly)."),
    scope: list[str] = typer.Option([], "--scope", "-s", help="A scope the key grants; repeat for more."),
    expires: str | None = typer.Option(None, "--expires", help="30d, 12h, 2026-12-31, ... (default: never)."),
    keystore: str = _KEYSTORE_OPTION,
) -> None:
    """Create a key and print its secret (once, alone on stdout).

    Example: [bold]KEY=$(cloudgate keys create etl --scope datasets:read --expires 90d)[/]
    """
    from cloudgate.service.keys import open_keystore

    when = parse_expiry(expires) if expires else None
    store = open_keystore(keystore)
    try:
        record, secret = store.create(name, scope, when)
    finally:
        store.close()
    scopes = ", ".join(sorted(record.scopes)) or "(none)"
    typer.echo(
        f"created key {record.key_id} for {record.name!r}; scopes: {scopes}; expires: {when or 'never'}", err=True
    )
    typer.echo("store the secret now: it cannot be shown again", err=True)
    typer.echo(secret)


@keys_app.command("list")
def list_keys(
    keystore: str = _KEYSTORE_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print JSON (no secrets, no hashes)."),
) -> None:
    """List keys: id, name, scopes, state and dates. Never secrets or hashes."""
    from rich.console import Console
    from rich.table import Table

    from cloudgate.service.keys import open_keystore

    store = open_keystore(keystore)
    try:
        records = store.list()
    finally:
        store.close()
    rows = [
        {
            "key_id": r.key_id,
            "name": r.name,
            "scopes": sorted(r.scopes),
            "state": r.state(),
            "created_at": r.created_at.isoformat(),
            "expires_at": r.expires_at.isoformat() if r.expires_at else None,
            "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None,
        }
        for r in records
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo(f"no keys in {keystore} (another store? --keystore or CLOUDGATE_KEYSTORE)", err=True)
        return
    table = Table("id", "name", "scopes", "state", "created", "expires", title=keystore)
    table.columns[0].no_wrap = True  # `revoke` needs the whole id
    for row in rows:
        table.add_row(
            str(row["key_id"]),
            str(row["name"]),
            " ".join(row["scopes"]),  # type: ignore[arg-type]
            str(row["state"]),
            str(row["created_at"])[:19],
            str(row["expires_at"] or "never")[:19],
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (the 16 hex digits after cgk_)."),
    keystore: str = _KEYSTORE_OPTION,
) -> None:
    """Revoke a key: a running service refuses it within CLOUDGATE_KEY_CACHE_SECONDS (2 s by default)."""
    from cloudgate.service.keys import open_keystore, parse_key_id

    # Accept a whole key too, so a leaked key can be revoked by pasting it; only its id is used.
    key_id = parse_key_id(key_id) or key_id
    store = open_keystore(keystore)
    try:
        before = store.get(key_id)
        record = store.revoke(key_id, datetime.now(UTC))
    finally:
        store.close()
    if before is not None and before.revoked_at is not None:
        typer.echo(f"key {record.key_id} ({record.name!r}) was already revoked at {before.revoked_at}", err=True)
    else:
        typer.echo(f"revoked key {record.key_id} ({record.name!r}) in {keystore}", err=True)


def register(root: typer.Typer) -> None:
    root.add_typer(keys_app, name="keys")
