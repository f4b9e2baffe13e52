"""A provider's attribute mapping and attribute condition, evaluated in CEL as the Security Token Service does.

``--attribute-mapping google.subject=assertion.sub,attribute.repository=assertion.repository`` maps each target
attribute to a CEL expression over ``assertion`` (the subject token's claims). ``--attribute-condition`` is a CEL
expression over ``assertion``, ``attribute`` (the mapped custom attributes) and ``google`` (``google.subject``,
``google.groups``) that must be ``true`` for the exchange to go on. CEL is evaluated with cel-python (``celpy``),
imported on first use; compiled programs are kept per expression.

Example::

    attributes = map_attributes({"google.subject": "assertion.sub"}, {"sub": "repo:org/repo:ref:refs/heads/main"})
    condition_holds("assertion.repository == 'org/repo'", {"repository": "org/repo"}, attributes)
"""

from __future__ import annotations

import functools
import re
from typing import Any

from cloudgate.errors import ConfigError

#: Google's limits: an attribute name, a mapping expression and a condition.
_TARGET = re.compile(r"^(google\.subject|google\.groups|attribute\.[a-z_][a-z0-9_]{0,99})$")
_MAX_MAPPING_CHARS = 2048
_MAX_CONDITION_CHARS = 4096
_MAX_SUBJECT_BYTES = 127


class MappingError(ConfigError):
    """A mapping or condition that cannot be compiled, or a mapped value Google would refuse."""


def check_mapping(mapping: dict[str, str]) -> None:
    """Refuse what Google refuses at ``providers create-oidc``: bad target names, no ``google.subject``, bad CEL."""
    if "google.subject" not in mapping:
        raise MappingError("The attribute mapping must contain a mapping for google.subject.")
    for target, expression in mapping.items():
        if not _TARGET.match(target):
            raise MappingError(f"Invalid attribute name in the attribute mapping: {target}.")
        if len(expression) > _MAX_MAPPING_CHARS:
            raise MappingError(f"The mapping expression of {target} exceeds {_MAX_MAPPING_CHARS} characters.")
        _program(expression)


def check_condition(condition: str) -> None:
    if len(condition) > _MAX_CONDITION_CHARS:
        raise MappingError(f"The attribute condition exceeds {_MAX_CONDITION_CHARS} characters.")
    if condition:
        _program(condition)


def map_attributes(mapping: dict[str, str], assertion: dict[str, Any]) -> dict[str, str | list[str]]:
    """The mapped attributes of a token's claims; an expression that finds nothing leaves its attribute out."""
    from celpy.adapter import json_to_cel
    from celpy.evaluation import CELEvalError

    activation = json_to_cel({"assertion": assertion})
    mapped: dict[str, str | list[str]] = {}
    for target, expression in mapping.items():
        try:
            value = _program(expression).evaluate(activation)
        except CELEvalError:
            continue
        plain = _plain(value)
        if plain is not None:
            mapped[target] = plain
    subject = mapped.get("google.subject")
    if not isinstance(subject, str) or not subject:
        raise MappingError("The mapped attribute google.subject is empty or not a string.")
    if len(subject.encode()) > _MAX_SUBJECT_BYTES:
        raise MappingError(f"The size of mapped attribute google.subject exceeds the {_MAX_SUBJECT_BYTES} bytes limit.")
    return mapped


def condition_holds(condition: str, assertion: dict[str, Any], attributes: dict[str, str | list[str]]) -> bool:
    """Whether the condition is ``true`` for these claims and attributes (an error counts as false, as at Google)."""
    if not condition:
        return True
    from celpy.adapter import json_to_cel
    from celpy.celtypes import BoolType
    from celpy.evaluation import CELEvalError

    google = {k.removeprefix("google."): v for k, v in attributes.items() if k.startswith("google.")}
    custom = {k.removeprefix("attribute."): v for k, v in attributes.items() if k.startswith("attribute.")}
    activation = json_to_cel({"assertion": assertion, "attribute": custom, "google": google})
    try:
        result = _program(condition).evaluate(activation)
    except CELEvalError:
        return False
    return isinstance(result, BoolType) and bool(result)


@functools.lru_cache(maxsize=256)
def _program(expression: str) -> Any:
    import celpy
    from celpy.celparser import CELParseError

    try:
        environment = celpy.Environment()
        return environment.program(environment.compile(expression))
    except CELParseError as exc:
        raise MappingError(f"Invalid CEL expression {expression!r}: {str(exc).splitlines()[0]}") from exc


def _plain(value: Any) -> str | list[str] | None:
    """A mapped value as Google keeps it: a string, or a list of strings (``google.groups``)."""
    from celpy.celtypes import BoolType, IntType, ListType, StringType

    if isinstance(value, ListType):
        return [str(item) for item in value]
    if isinstance(value, BoolType):
        return str(bool(value)).lower()
    if isinstance(value, (StringType, IntType)):
        return str(value)
    return None
