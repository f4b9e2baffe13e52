"""``cloudgate keys create|list|revoke``: manage API keys. The secret is shown once, at creation, alone on stdout."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

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
    # Off a terminal (a pipe, a file) rich would cut the table at 80 columns: give it the width it needs instead.
    Console(width=None if sys.stdout.isatty() else 10_000).print(table)


_KEY_ID = re.compile(r"[0-9a-f]{16}")


def _key_id(store: Any, given: str, keystore: str) -> str:
    """The id of the key ``given`` names: a whole key (a leaked one, pasted), its id, or a name only one key has.

    Anything else is refused here, before the store sees it (an id goes into a Firestore document path).
    """
    from cloudgate.service.keys import parse_key_id

    key_id = parse_key_id(given)
    if key_id is not None or _KEY_ID.fullmatch(given):
        return key_id or given
    named = [record for record in store.list() if record.name == given.strip()]
    if len(named) > 1:  # a revoked namesake does not make a name ambiguous
        named = [record for record in named if record.revoked_at is None] or named
    if len(named) == 1:
        return str(named[0].key_id)
    if not named:
        raise ConfigError(
            f"no API key with the id or name {given!r} in {keystore}: give the 16 hex digits after cgk_, the whole "
            "key, or a key's name (`cloudgate keys list` shows them)"
        )
    ids = ", ".join(record.key_id for record in named)
    raise ConfigError(f"{len(named)} keys are named {given!r} ({ids}): give the id of the one to revoke")


@keys_app.command("revoke")
def revoke(
    key: str = typer.Argument(
        ...,
        metavar="KEY",
        help="The key's id (the 16 hex digits after cgk_), its name when only one active key has it, or the whole key.",
        show_default=False,
    ),
    keystore: str = _KEYSTORE_OPTION,
) -> None:
    """Revoke a key: a running service refuses it within CLOUDGATE_KEY_CACHE_SECONDS (2 s by default)."""
    from cloudgate.service.keys import open_keystore

    store = open_keystore(keystore)
    try:
        key_id = _key_id(store, key, keystore)  # only the id of a pasted key is used, never printed whole
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
