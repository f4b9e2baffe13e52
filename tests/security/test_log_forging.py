"""Log forging: a request path with line breaks must not write lines into any log.

Attack: ``GET /x%0d%0aFORGED ...``. The path reaches the application percent-decoded, so CR, LF and the other
characters that end a line (vertical tab, form feed, NEL, U+2028) arrive raw; logged as they are, each starts a
line of the attacker's making. Targets: the service (text and JSON logs), the emulator's front end, ``cloudgate
dev`` (the front end and the service it runs), and ``cloudgate proxy``. Secure: no line of any of their outputs
starts with the attacker's text, and the attempt is still logged (escaped), so nothing is hidden either.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.stack import DevStack, EmulatorStack
from tests.security.conftest import Attack, RunningProxy, Secrets, Served, id_token

pytestmark = pytest.mark.e2e

#: Every separator ``str.splitlines`` honours that a path can carry, each followed by the forged text.
_SEPARATORS = ["%0d%0a", "%0a", "%0d", "%0b", "%0c", "%1e", "%c2%85", "%e2%80%a8", "%e2%80%a9"]


def _path(tag: str) -> str:
    return f"/v1/{tag}" + "".join(f"{sep}FORGED-{tag} INFO all is well" for sep in _SEPARATORS)


def _forged(output: str, tag: str) -> list[str]:
    return [line for line in output.splitlines() if line.lstrip("{\"'").startswith(f"FORGED-{tag}")]


@pytest.fixture(scope="module")
def text_service(secrets: Secrets) -> Iterator[Served]:
    """The example service with human-readable logs (``--log-format text``, what ``cloudgate dev`` uses)."""
    with secrets.served_app(secrets.root / "data-text", CLOUDGATE_LOG_FORMAT="text") as served:
        yield served


def test_the_services_text_log_keeps_one_request_on_one_line(text_service: Served, attack: Attack) -> None:
    attack("text log", httpx.get(text_service.url + _path("text"), timeout=10), expect=(401, 404))
    text_service.drain.wait_for("\\x0d\\x0aFORGED-text")
    assert _forged(text_service.output, "text") == []


def test_the_services_json_log_keeps_one_request_on_one_line(cloud_run_service: Served, attack: Attack) -> None:
    attack("json log", httpx.get(cloud_run_service.url + _path("json"), timeout=10), expect=(401, 404))
    cloud_run_service.drain.wait_for("FORGED-json")
    assert _forged(cloud_run_service.output, "json") == []


def test_the_emulators_front_end_log_keeps_one_request_on_one_line(emulator: EmulatorStack, attack: Attack) -> None:
    attack("emulator front end", httpx.get(emulator.url + _path("emulator"), timeout=10), expect=(401, 403))
    assert emulator.drain is not None
    emulator.drain.wait_for("\\x0d\\x0aFORGED-emulator")
    assert _forged(emulator.drain.output, "emulator") == []


def test_cloudgate_devs_logs_keep_one_request_on_one_line(dev: DevStack, attack: Attack) -> None:
    """Refused by the front end (no token), and let through to the service (the invoker's token)."""
    assert dev.drain is not None
    attack("dev front end", httpx.get(dev.url + _path("devfront"), timeout=10), expect=(401, 403))
    dev.drain.wait_for("\\x0d\\x0aFORGED-devfront")
    headers = {"X-Serverless-Authorization": f"Bearer {id_token(dev.invoker_key, dev.url)}"}
    attack("dev service", httpx.get(dev.url + _path("devsvc"), headers=headers, timeout=10), expect=(401, 404))
    dev.drain.wait_for("FORGED-devsvc")  # the service's own line (JSON or text, as dev configures it)
    assert _forged(dev.drain.output, "devfront") == [] and _forged(dev.drain.output, "devsvc") == []


def test_cloudgate_proxys_log_keeps_one_request_on_one_line(proxy: RunningProxy, attack: Attack) -> None:
    """A request the proxy refuses (a foreign Origin) is logged with its path."""
    headers = {"Origin": "http://evil.example"}
    attack("proxy", httpx.get(proxy.url + _path("proxy"), headers=headers, timeout=10), expect=403)
    proxy.drain.wait_for("\\x0d\\x0aFORGED-proxy")
    assert _forged(proxy.drain.output, "proxy") == []
