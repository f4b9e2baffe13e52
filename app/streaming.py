"""The streamed export response: sends an ``Export`` chunk by chunk, and ends it when sending stalls or fails.

Three things bound what one export holds:

- Each chunk goes out in pieces of ``_PIECE`` bytes, so a client that stops reading leaves at most one piece in
  the server's socket buffer, not a whole encoded batch.
- A piece that the client does not accept within ``send_timeout`` seconds ends the export: DuckDB's result, the
  pinned file and the export slot are released at once, not when the client finally goes away.
- A failure after the first byte (the export's time budget, a file that turns out corrupt) ends the response
  without its final chunk, so the client sees an incomplete transfer rather than a complete-looking short one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from app.admission import Slot
from app.export import Export, ExportBrokenError

logger = logging.getLogger(__name__)

#: Bytes per ``send``: what a stalled client can leave in the socket buffer, beyond the kernel's own.
_PIECE = 64 * 1024


class ExportResponse(Response):
    """A chunked response of ``export``'s chunks (``first`` already encoded); gives ``slot`` back at the end."""

    def __init__(
        self,
        export: Export,
        first: bytes | None,
        slot: Slot,
        *,
        send_timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._export = export
        self._first = first
        self._slot = slot
        self._send_timeout = send_timeout
        self.status_code = 200
        self.media_type = export.media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        complete = False
        try:
            async with anyio.create_task_group() as group:

                async def stop_on_disconnect() -> None:
                    # A client that went away: stop encoding for nobody (the server would drop the bytes).
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    group.cancel_scope.cancel()

                group.start_soon(stop_on_disconnect)
                complete = await self._stream(send)
                group.cancel_scope.cancel()
        finally:
            self._export.close()
            self._slot.release()
        if complete:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        # Otherwise return without the final message: the server closes the connection, and the client's reader
        # reports a truncated chunked body.

    async def _stream(self, send: Send) -> bool:
        """Send every chunk; False when the export broke or the client stalled (logged)."""
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        chunk, self._first = self._first, None
        try:
            while chunk is not None:
                for start in range(0, len(chunk), _PIECE):
                    with anyio.fail_after(self._send_timeout):
                        await send(
                            {"type": "http.response.body", "body": chunk[start : start + _PIECE], "more_body": True}
                        )
                chunk = await anyio.to_thread.run_sync(self._export.next_chunk)
        except ExportBrokenError:
            return False  # logged by the export, with its reason
        except TimeoutError:
            logger.warning(
                "export ended: the client accepted nothing for %g s (CLOUDGATE_EXPORT_SEND_TIMEOUT_SECONDS)",
                self._send_timeout,
            )
            return False
        return True
