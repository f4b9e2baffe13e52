"""``cloudgate proxy URL``: serve a private Cloud Run service on localhost, adding an ID token to every request.

Open ``http://127.0.0.1:8081/docs`` in a browser: the docs' own Basic login still applies, and "Try it out"
works. Binds to 127.0.0.1 unless told otherwise: anyone who can reach the port calls the service as you.
"""

from __future__ import annotations

import logging
import socket
from typing import Annotated

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
from cloudgate.log_lines import configure_text_logging

_HELP = """Serve a private Cloud Run service on localhost with your identity, for a browser.

Every request gets a fresh ID token (X-Serverless-Authorization); the browser's own headers, Basic login
included, pass through. Requests from other web sites (a foreign Origin, Sec-Fetch-Site: cross-site) and
requests naming another Host (DNS rebinding) are refused with 403. Example:

    cloudgate proxy https://svc-abc-uc.a.run.app --port 8081

    then open http://127.0.0.1:8081/docs
"""

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def proxy(
    url: Annotated[str, typer.Argument(help="The service URL.")],
    port: Annotated[int, typer.Option(help="Local port.", min=1, max=65535)] = 8081,
    host: Annotated[str, typer.Option(help="Local address; anything but loopback needs --allow-remote.")] = "127.0.0.1",
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a non-loopback --host (others would call as you).")
    ] = False,
    api_key: ApiKeyOption = None,
    audience: AudienceOption = None,
    credentials: CredentialsOption = None,
    impersonate: ImpersonateOption = None,
) -> None:
    import uvicorn

    from cloudgate.client.proxy import ProxyApp

    if host not in _LOOPBACK and not allow_remote:
        raise ConfigError(f"--host {host} exposes your identity to the network; add --allow-remote if you mean it")
    # The proxy's own warnings (a refused request names its path) go out one record per line.
    configure_text_logging(logging.WARNING)
    sock = _listen(host, port)  # a taken port fails here, before any credential is touched
    try:
        aud = audience_of(url, audience)
        provider = make_provider(credentials, impersonate)
        provider.get(aud)  # fail now, with the sources' message, rather than on the first browser request
        app = ProxyApp(url, tokens=provider, audience=aud, api_key=api_key, port=port, host=host)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(f"proxying {url} on http://{shown}:{port} (try http://{shown}:{port}/docs)", err=True)
        # Access logs show method, path and status only: never headers, so never a token. No proxy_headers: the
        # peer is who it is. The upstream's Date and Server headers pass through; uvicorn adds none of its own.
        config = uvicorn.Config(
            app, log_level="info", proxy_headers=False, server_header=False, date_header=False, host=host, port=port
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


def _listen(host: str, port: int) -> socket.socket:
    """The proxy's listening socket, or a ``ConfigError`` naming --port when it cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror} (choose another port with --port)") from exc
    return sock


def register(root: typer.Typer) -> None:
    root.command("proxy", help=_HELP)(proxy)
