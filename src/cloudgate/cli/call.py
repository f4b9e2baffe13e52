"""``cloudgate call [METHOD] URL [ITEM ...]``: an authenticated request to a private service, HTTPie style.

Items: ``name==value`` a query parameter, ``name=value`` a JSON string field, ``name:=json`` a raw JSON field,
``Header:value`` a header. A body makes the default method POST, else GET. JSON answers are pretty-printed to
stdout; ``--all`` follows every page and prints one JSON array; ``--output FILE`` streams the body to a file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cloudgate.cli.caller_options import (
    ApiKeyOption,
    AudienceOption,
    CredentialsOption,
    ImpersonateOption,
    audience_of,
    make_provider,
)
from cloudgate.errors import ConfigError

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})

_HELP = """Send an authenticated request to a private Cloud Run service (HTTPie-style items).

Items: name==value (query), name=value (JSON string), name:=json (raw JSON), Header:value (header).

Examples:

    cloudgate call https://svc-abc-uc.a.run.app/v1/whoami

    cloudgate call https://svc-abc-uc.a.run.app/v1/datasets/sales/rows limit==500 --all

    cloudgate call POST https://svc-abc-uc.a.run.app/v1/things name=box size:=3

    cloudgate call https://svc-abc-uc.a.run.app/v1/datasets/sales/export format==parquet -o sales.parquet
"""


class CallArguments:
    """A parsed command line: method, URL, query, JSON body and headers."""

    def __init__(self, args: list[str]) -> None:
        if not args:
            raise ConfigError("give a URL: cloudgate call [METHOD] URL [ITEM ...]")
        method = args[0].upper() if args[0].upper() in _METHODS and len(args) > 1 else None
        rest = args[1:] if method else args
        self.url, items = rest[0], rest[1:]
        self.params: list[tuple[str, str]] = []
        self.body: dict[str, Any] = {}
        self.headers: dict[str, str] = {}
        for item in items:
            self._add(item)
        self.method = method or ("POST" if self.body else "GET")

    def _add(self, item: str) -> None:
        # The earliest separator wins, so values may contain the others ("q==a=b", "note=x:y").
        found = [(item.find(sep), sep) for sep in (":=", "==", "=", ":") if item.find(sep) > 0]
        if not found:
            raise ConfigError(f"not an item: {item!r} (use name==value, name=value, name:=json or Header:value)")
        index, sep = min(found, key=lambda pair: (pair[0], -len(pair[1])))
        name, value = item[:index], item[index + len(sep) :]
        if sep == "==":
            self.params.append((name, value))
        elif sep == "=":
            self.body[name] = value
        elif sep == ":=":
            try:
                self.body[name] = json.loads(value)
            except ValueError as exc:
                raise ConfigError(f"{name}:= needs JSON, got {value!r}") from exc
        else:
            self.headers[name] = value.strip()


def call(
    args: Annotated[
        list[str],
        typer.Argument(
            metavar="[METHOD] URL [ITEM]...",
            help="An optional method (GET by default, POST with data items), the URL, then the items below.",
            show_default=False,
        ),
    ],
    all_pages: Annotated[bool, typer.Option("--all", help="Follow every page; print one JSON array.")] = False,
    items_key: Annotated[
        str | None, typer.Option("--items-key", help="With --all: the list in each page (default: rows/items/data).")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Stream the body to FILE (progress on a terminal).")
    ] = None,
    api_key: ApiKeyOption = None,
    audience: AudienceOption = None,
    credentials: CredentialsOption = None,
    impersonate: ImpersonateOption = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the service.")] = 300.0,
) -> None:
    from cloudgate.client.client import Client

    request = CallArguments(args)
    provider = make_provider(credentials, impersonate)
    aud = audience_of(request.url, audience)
    kwargs: dict[str, Any] = {"params": request.params or None, "headers": request.headers or None}
    if request.body:
        kwargs["json"] = request.body
    with Client(tokens=provider, audience=aud, api_key=api_key, timeout=timeout) as client:
        if output is not None:
            written = client.download(request.url, output, **kwargs)
            typer.echo(f"wrote {written} bytes to {output}", err=True)
        elif all_pages:
            items = list(client.paginate(request.url, params=dict(request.params), items_key=items_key))
            _print_json(items)
        else:
            response = client.request(request.method, request.url, **kwargs)
            _print_body(response.headers.get("content-type", ""), response.content)


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _print_body(content_type: str, content: bytes) -> None:
    if "json" in content_type:
        try:
            _print_json(json.loads(content))
            return
        except ValueError:
            pass
    sys.stdout.buffer.write(content)
    if content and not content.endswith(b"\n") and sys.stdout.isatty():
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


def register(root: typer.Typer) -> None:
    root.command("call", help=_HELP)(call)
