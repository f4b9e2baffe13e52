"""``cloudgate call``'s HTTPie-style command line: method, URL and items."""

from __future__ import annotations

import pytest

from cloudgate.cli.call import CallArguments
from cloudgate.errors import ConfigError


def test_method_defaults_to_get_without_a_body() -> None:
    request = CallArguments(["https://svc.example/v1/x", "limit==5", "X-Trace:abc"])
    assert (request.method, request.url) == ("GET", "https://svc.example/v1/x")
    assert request.params == [("limit", "5")] and request.headers == {"X-Trace": "abc"}


def test_a_body_makes_it_a_post_and_raw_json_keeps_its_type() -> None:
    request = CallArguments(["https://svc.example", "name=box", "size:=3", 'tags:=["a"]'])
    assert request.method == "POST" and request.body == {"name": "box", "size": 3, "tags": ["a"]}


def test_an_explicit_method_wins() -> None:
    assert CallArguments(["delete", "https://svc.example/v1/datasets/x"]).method == "DELETE"


def test_the_first_separator_decides_so_values_may_contain_others() -> None:
    request = CallArguments(["https://svc.example", "q==a=b:c", "note=x:y", "Link:<http://a>"])
    assert request.params == [("q", "a=b:c")]
    assert request.body == {"note": "x:y"} and request.headers == {"Link": "<http://a>"}


@pytest.mark.parametrize("item", ["plain", "=value", "n:=not-json"])
def test_bad_items_are_config_errors(item: str) -> None:
    with pytest.raises(ConfigError):
        CallArguments(["https://svc.example", item])


def test_a_url_is_required() -> None:
    with pytest.raises(ConfigError, match="give a URL"):
        CallArguments([])
