"""Is this literal value a secret? Judged by the value, with detect-secrets' plugins and cloudgate's own formats.

A value is a secret when one of these says so (first match wins; the answer names the kind, never the value):

1. cloudgate's own formats: an API key (``cgk_<16 hex>_<secret>``, ``cloudgate.service.keys``) or an argon2 hash
   (a docs-users line: ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``, which can be cracked offline);
2. detect-secrets' pattern plugins: provider key formats (AWS, Stripe, OpenAI, GitHub, Slack, ...), private keys,
   JWTs, credentials in a URL (``postgres://user:password@host``); then what they miss: a password in a URL with no
   user name (``redis://:pw@host``), a password set inside the value (``host=db password=pw``, ``Password=pw;``,
   ``{"password": "pw"}``, ``-Ddb.password=pw``), an ``Authorization`` value (``Bearer <token>``);
3. a high-entropy token (detect-secrets' Base64 entropy limit, 4.5 bits per character, over 20 characters or
   more) that is neither a sequence nor a UUID and mixes upper and lower case within a word, as random keys do
   and identifiers, paths and digests do not;
4. a variable named like a secret (``*_PASSWORD``, ``*_SECRET``, ``*_TOKEN``, ``*_API_KEY``, ``PGPASSWORD``, ...)
   whose value is not a reference (a path, a URL without credentials, a Secret Manager name, ``${...}``,
   ``true``/``false``).

So ``OAUTH_TOKEN_URL=https://...``, ``PASSWORD_MIN_LENGTH=12`` and ``SECRET_NAME=api-docs-users`` are not secrets:
their names end in ``URL``, ``LENGTH`` and ``NAME`` and their values match nothing above.

Needs ``detect-secrets`` (``pip install 'cloudgate[deploy]'``), imported on first use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any

from cloudgate.errors import ConfigError

_CLOUDGATE_KEY = re.compile(r"cgk_[0-9a-f]{16}_[A-Za-z0-9_\-]{16,}")
_ARGON2_HASH = re.compile(r"\$argon2(?:id|i|d)\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+")
#: A password in a URL, the user name possibly empty (``redis://:password@host``, which detect-secrets misses).
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*:[^/@\s]+@")
#: A password given as a setting inside the value: a connection string (libpq ``host=db password=x``, ADO.NET
#: ``Password=x;``), JSON (``{"password": "x"}``), a JVM property (``-Dspring.datasource.password=x``). Not a path
#: or a ``${...}`` reference, not ``password_url=...``.
_KEYED_PASSWORD = re.compile(
    r"""(?:^|[^A-Za-z0-9_])(?:password|passwd|pwd)["']?\s*[:=]\s*["']?(?![/$])[^\s"',;}]+""", re.IGNORECASE
)
#: An HTTP ``Authorization`` value with its token (``Bearer <token>``).
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9\-._~+/]{16,}=*")
_TOKEN = re.compile(r"[A-Za-z0-9+/=_\-]{20,}")
_WORD = re.compile(r"[A-Za-z0-9]+")
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:PASSWORD|PASSWD|PWD|PASS|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|SECRET_?KEY|ACCESS_?KEY|SIGNING_?KEY"
    r"|ENCRYPTION_?KEY|CREDENTIALS?|AUTH)$|^(?:PGPASSWORD|REDISCLI_AUTH)$",  # the last two: libpq's and redis-cli's
    re.IGNORECASE,
)
#: Values that point at a secret rather than being one.
_REFERENCE = re.compile(
    r"^(?:/|[a-z][a-z0-9+.\-]*://(?![^/@\s]*@)|projects/[^/]+/secrets/|\$\{|(?:true|false)$)", re.IGNORECASE
)
#: cloudgate's own settings whose names end like a secret's but whose values are a choice, not a secret (rule 4 skips
#: exactly these values: anything else in them is still judged).
_OWN_CHOICES = {"CLOUDGATE_DOCS_AUTH": frozenset({"basic", "iap", "both"})}
#: detect-secrets plugins that judge names or addresses, not values (the name rule above replaces the first).
_NOT_VALUE_PLUGINS = ("KeywordDetector", "IPPublicDetector", "Base64HighEntropyString", "HexHighEntropyString")


def secret_kind(name: str | None, value: str) -> str | None:
    """What kind of secret ``value`` is (e.g. ``Stripe Access Key``), or ``None`` when it does not look like one.

    ``name`` is the variable's name (``None`` for a command-line argument); it only adds rule 4.
    """
    if not value:
        return None
    for kind, matches in _value_rules():
        if matches(value):
            return kind
    if name and value.strip().lower() in _OWN_CHOICES.get(name.upper(), ()):
        return None
    if name and _SECRET_NAME.search(name) and not _REFERENCE.match(value):
        return f"a literal value in a variable named like a secret ({name})"
    return None


def argument_secret_kind(argument: str) -> str | None:
    """Like ``secret_kind`` for one command-line argument; ``--db-password=x`` counts as ``DB_PASSWORD=x``."""
    flag, sep, value = argument.partition("=")
    if sep and flag.startswith("-"):
        return secret_kind(flag.lstrip("-").replace("-", "_").upper(), value)
    return secret_kind(None, argument)


@cache
def _value_rules() -> tuple[tuple[str, Callable[[str], bool]], ...]:
    plugins = _plugins()
    rules: list[tuple[str, Callable[[str], bool]]] = [
        ("a cloudgate API key", lambda v: bool(_CLOUDGATE_KEY.search(v))),
        ("an argon2 password hash", lambda v: bool(_ARGON2_HASH.search(v))),
    ]
    for plugin in plugins:
        rules.append((str(plugin.secret_type), _matcher(plugin)))
    rules.append(("a password in a URL", lambda v: bool(_URL_PASSWORD.search(v))))  # after Basic Auth Credentials
    rules.append(("a password in a connection string or setting", lambda v: bool(_KEYED_PASSWORD.search(v))))
    rules.append(("a bearer token", lambda v: bool(_BEARER.search(v))))
    rules.append(("a high-entropy string (a random key or token)", _high_entropy))
    return tuple(rules)


def _matcher(plugin: Any) -> Callable[[str], bool]:
    return lambda value: any(True for _ in plugin.analyze_string(value))


def _plugins() -> list[Any]:
    try:
        from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    except ImportError as exc:
        raise ConfigError("finding secrets needs detect-secrets: pip install 'cloudgate[deploy]'") from exc
    classes: list[Any] = list(get_mapping_from_secret_type_to_class().values())
    return [cls() for cls in sorted(classes, key=lambda c: c.__name__) if cls.__name__ not in _NOT_VALUE_PLUGINS]


def _high_entropy(value: str) -> bool:
    from detect_secrets.filters.heuristic import is_potential_uuid, is_sequential_string
    from detect_secrets.plugins.high_entropy_strings import Base64HighEntropyString

    entropy = Base64HighEntropyString()
    return any(
        entropy.calculate_shannon_entropy(token) > entropy.entropy_limit
        and not is_sequential_string(token)
        and not is_potential_uuid(token)
        and _mixes_case(_WORD.findall(token))
        for token in _TOKEN.findall(value)
    )


def _mixes_case(words: Iterable[str]) -> bool:
    """Random keys mix cases inside a word; ``GOOGLE_CLOUD_PROJECT`` and ``my-project/locations`` do not."""
    return any(
        any(c.isupper() for c in word) and any(c.islower() for c in word) and any(c.isdigit() for c in word)
        for word in words
    )
