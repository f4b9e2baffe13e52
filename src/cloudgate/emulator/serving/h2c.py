"""One cleartext HTTP/2 exchange (h2c, prior knowledge) with a service deployed for HTTP/2, for the front end.

httpx/httpcore send the whole request body before they read the answer. Over HTTP/2 a service may answer before it
has read the body (RFC 9113, section 8.1), as a service does when it refuses a body past its limit with 413; httpcore
then waits for flow-control credit that never comes, or fails on the reset stream, where Google's front end relays
the 413. Here the body is sent while the answer is read, and sending stops once the service has answered.
One connection per exchange: the emulator needs fidelity, not connection reuse.

Example::

    async def relay(response: H2cResponse) -> None:
        async for chunk in response.chunks():
            ...

    await exchange("http://127.0.0.1:9001/upload", "POST", headers, body_chunks, relay)
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import httpx

_STREAM = 1
_READ_SIZE = 64 * 1024


class H2cError(httpx.TransportError):
    """The exchange broke: the connection closed, the stream was reset before an answer, or a protocol error."""


@dataclass
class H2cResponse:
    """The service's answer: status, headers (pseudo-headers removed), and its body as it arrives."""

    status_code: int
    headers: list[tuple[bytes, bytes]]
    _exchange: _Exchange = field(repr=False)

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ``H2cError`` if the service broke it off."""
        self._exchange.head_relayed = True
        async for chunk in self._exchange.body:
            yield chunk
        if self._exchange.error is not None:
            raise self._exchange.error


class _Exchange:
    def __init__(self, sock: anyio.abc.SocketStream) -> None:
        self.sock = sock
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
        self.head = anyio.Event()
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.answered = False  # the service ended its answer: nothing more of the body is needed
        self.error: H2cError | None = None
        self.head_relayed = False
        self._credit = anyio.Event()
        self._send_lock = anyio.Lock()
        self._body_in, self.body = anyio.create_memory_object_stream[bytes](4)

    def close(self) -> None:
        self._body_in.close()
        self.body.close()

    async def flush(self) -> None:
        async with self._send_lock:
            data = self.conn.data_to_send()
            if data:
                await self.sock.send(data)

    def fail(self, message: str) -> None:
        if self.error is None and not self.answered:
            self.error = H2cError(message)
        self.head.set()
        self._credit.set()
        self._body_in.close()

    async def read(self) -> None:
        """Read frames until the answer ends; hand its body over as it comes (bounded: back-pressure)."""
        try:
            while not self.answered:
                data = await self.sock.receive(_READ_SIZE)
                for event in self.conn.receive_data(data):
                    await self._on(event)
                await self.flush()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError) as exc:
            self.fail(f"the service closed the connection: {type(exc).__name__}")
        except h2.exceptions.ProtocolError as exc:
            self.fail(f"HTTP/2 protocol error: {exc}")
        finally:
            self._credit.set()
            self._body_in.close()

    async def _on(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            raw = [(bytes(n), bytes(v)) for n, v in event.headers or []]
            self.status = int(next(v for n, v in raw if n == b":status"))
            self.headers = [(n, v) for n, v in raw if not n.startswith(b":")]
            self.head.set()
        elif isinstance(event, h2.events.DataReceived):
            if event.data:
                await self._body_in.send(event.data)
            self.conn.acknowledge_received_data(event.flow_controlled_length, _STREAM)
        elif isinstance(event, h2.events.StreamEnded):
            self.answered = True
            self._credit.set()
        elif isinstance(event, h2.events.StreamReset | h2.events.ConnectionTerminated):
            self.fail(f"the service ended the stream ({type(event).__name__}) before its answer was complete")
        elif isinstance(event, h2.events.WindowUpdated | h2.events.RemoteSettingsChanged):
            self._credit.set()

    async def send_body(self, body: AsyncIterator[bytes]) -> None:
        """Send the body within the flow-control credit; stop as soon as the service has answered."""
        try:
            async for chunk in body:
                view = memoryview(chunk)
                while view:
                    if self.answered or self.error is not None:
                        return
                    credit = self._credit = anyio.Event()  # made before the check: a wake-up cannot be missed
                    size = min(self.conn.local_flow_control_window(_STREAM), self.conn.max_outbound_frame_size)
                    if size <= 0:
                        await credit.wait()
                        continue
                    self.conn.send_data(_STREAM, view[:size].tobytes())
                    view = view[size:]
                    await self.flush()
            if not self.answered and self.error is None:
                self.conn.end_stream(_STREAM)
                await self.flush()
        except h2.exceptions.StreamClosedError:
            return  # the service reset the stream after answering early
        except Exception as exc:  # the caller's body broke off (the client went away): end the exchange
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.conn.reset_stream(_STREAM)
            self.fail(f"the request body broke off: {type(exc).__name__}")
            with contextlib.suppress(OSError, anyio.BrokenResourceError):
                await self.flush()


async def exchange(
    url: str,
    method: str,
    headers: list[tuple[bytes, bytes]],
    body: AsyncIterator[bytes] | None,
    relay: Callable[[H2cResponse], Awaitable[None]],
) -> None:
    """Send one request over a new h2c connection and hand the answer to ``relay`` once its head is in.

    ``H2cError`` when no answer came; an exception of ``relay`` is raised as it is (not in an exception group).
    """
    target = httpx.URL(url)
    try:
        sock = await anyio.connect_tcp(target.host, target.port or 80)
    except OSError as exc:
        raise H2cError(f"cannot connect to the service: {exc.strerror}") from exc
    ex = _Exchange(sock)
    failure: Exception | None = None
    async with sock, anyio.create_task_group() as tasks:
        ex.conn.initiate_connection()
        request = [
            (b":method", method.encode()),
            (b":scheme", b"http"),
            (b":authority", target.netloc),
            (b":path", target.raw_path),
            *((n.lower(), v) for n, v in headers if n.lower() != b"host"),
        ]
        ex.conn.send_headers(_STREAM, request, end_stream=body is None)
        await ex.flush()
        tasks.start_soon(ex.read)
        if body is not None:
            tasks.start_soon(ex.send_body, body)
        try:
            await ex.head.wait()
            if ex.error is None:
                await relay(H2cResponse(ex.status, ex.headers, ex))
        except Exception as exc:  # raised below, outside the task group
            failure = exc
        finally:
            tasks.cancel_scope.cancel()
            ex.close()
    if failure is not None:
        raise failure
    if ex.error is not None and not ex.head_relayed:
        raise ex.error
