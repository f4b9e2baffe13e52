"""Cost of the caller-identity check per request: a first sight of a token vs a cached one, in both modes.

Prints microseconds per check and the ratio of a cache hit to a miss, measured in the same run over N distinct
tokens (certs served in-process, so no network time is counted). Usage: ``python bench/identity_check.py [N]``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import httpx
import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.keys import new_rsa_key, public_pem

from cloudgate.google import ID_TOKEN_ISSUER, SIGNATURE_REMOVED
from cloudgate.service.identity import IdentityChecker
from cloudgate.service.settings import IdentityMode, ServiceSettings

AUDIENCE = "https://svc-abc-uc.a.run.app"


def mint(key: object, count: int) -> list[str]:
    now = int(time.time())
    claims = {"iss": ID_TOKEN_ISSUER, "aud": AUDIENCE, "email_verified": True, "iat": now, "exp": now + 3600}
    return [
        jwt.encode({**claims, "sub": str(i), "email": f"u{i}@p.iam.gserviceaccount.com"}, key, "RS256", {"kid": "k1"})  # type: ignore[arg-type]
        for i in range(count)
    ]


async def per_check(checker: IdentityChecker, tokens: list[str]) -> float:
    started = time.perf_counter()
    for token in tokens:
        await checker.check(token)
    return (time.perf_counter() - started) / len(tokens) * 1e6


async def main(count: int) -> None:
    key = new_rsa_key()
    certs = {"k1": public_pem(key)}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=certs))
    signed = mint(key, count + 1)
    stripped = [t.rsplit(".", 1)[0] + "." + SIGNATURE_REMOVED for t in signed]
    print(f"{'mode':10} {'first sight':>14} {'cached':>10} {'cached/first':>13}   ({count} distinct tokens)")
    for mode, tokens in ((IdentityMode.VERIFY, signed), (IdentityMode.CLOUD_RUN, stripped)):
        settings = ServiceSettings(identity=mode, audiences=[AUDIENCE], certs_url="http://certs.test/")
        checker = IdentityChecker(settings, http=httpx.AsyncClient(transport=transport))
        await checker.check(tokens[-1])  # warm up: imports done, certs fetched
        miss = await per_check(checker, tokens[:-1])
        hit = await per_check(checker, tokens[:-1])
        print(f"{mode.value:10} {miss:11.1f} us {hit:7.2f} us {hit / miss:12.3f}x")
        await checker.aclose()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000))
