"""Closing what ``protect()`` opened when the app stops, inside the app's own lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI


def close_on_shutdown(app: FastAPI, close: Callable[[], Awaitable[None]]) -> None:
    """Wrap ``app``'s lifespan so ``close()`` runs after it ends, however it ends."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        async with inner(application) as state:
            try:
                yield state
            finally:
                await close()

    app.router.lifespan_context = lifespan
