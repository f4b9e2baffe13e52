"""What the SDK costs per call: N sequential GETs through ``cloudgate.client.Client`` versus plain httpx with a
fixed, pre-fetched ID token, against the same emulator front end and echo service, in the same run.

Both sides keep one connection pool; the SDK side adds its auth flow (cache lookup, headers), retry loop and
status check. Rounds alternate so drift on the machine hits both alike; the ratio is of the medians.

    .venv/bin/python bench/client_overhead.py [N] [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.stack import EmulatorStack  # noqa: E402
from tests.support import free_port, start_process, stop_process, wait_for_port  # noqa: E402

from cloudgate.client import Client, TokenProvider  # noqa: E402


def _time(calls: int, send: object) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        send()  # type: ignore[operator]
    return (time.perf_counter() - started) / calls


def _compare(label: str, url: str, key: Path, calls: int, rounds: int) -> None:
    token = TokenProvider(key).get(url).value
    plain = httpx.Client(base_url=url, headers={"X-Serverless-Authorization": f"Bearer {token}"})
    sdk = Client(url, credentials=key)
    sdk.get("/health")  # the first token is fetched outside the timing: steady state is compared
    plain.get("/health").raise_for_status()
    plain_times, sdk_times = [], []
    for round_ in range(rounds):  # alternate who goes first, so warm-up and drift do not favour one side
        order = [
            (plain_times, lambda: plain.get("/health").raise_for_status()),
            (sdk_times, lambda: sdk.get("/health")),
        ]
        for times, send in order[:: 1 if round_ % 2 else -1]:
            times.append(_time(calls, send))
    fetches = sdk.tokens.fetches
    plain.close()
    sdk.close()
    p, s = statistics.median(plain_times), statistics.median(sdk_times)
    print(f"{label}: {calls} sequential GET /health x {rounds} alternating rounds")
    print(f"  plain httpx, fixed token : {p * 1e3:7.3f} ms/call (median of rounds)")
    print(f"  cloudgate.client.Client  : {s * 1e3:7.3f} ms/call (median of rounds)")
    print(f"  ratio SDK / plain        : {s / p:7.3f}   (token fetches by the SDK: {fetches})")


def main() -> None:
    calls = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory() as folder:
        stack = EmulatorStack.start(Path(folder))
        port = free_port()
        echo = start_process([sys.executable, "-m", "cloudgate.emulator.serving.echo"], env={"PORT": str(port)})
        try:
            wait_for_port(port, proc=echo)
            _compare("through the emulator's front end", stack.url, stack.invoker_key, calls, rounds)
            # The echo service alone: no front end in the way, so the client's own cost shows.
            _compare("echo service directly", f"http://127.0.0.1:{port}", stack.invoker_key, calls, rounds)
        finally:
            stop_process(echo)
            stack.stop()


if __name__ == "__main__":
    main()
