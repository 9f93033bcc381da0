"""uvicorn's HTTP protocol with the two timeouts it lacks: request headers, and an idle connection before them.

uvicorn (0.54, locked) closes a keep-alive connection idle after a response, but a connection that sends
nothing, or sends its headers one byte every few seconds, is held for ever: 1,000 such connections were all
still open after 30 s. This subclass of uvicorn's httptools protocol gives every request's head (request line
and headers) ``serving.header_timeout_seconds`` from the connection's start, or from the first byte of the next
request on a kept-alive connection; past it the server answers 408 and closes. The body's own limit is the
predict guard's (serving/guard.py), the idle limit between requests is uvicorn's ``timeout_keep_alive``.

``python -m serving.server`` passes the class to uvicorn (``http=``). Under ``bentoml serve`` each worker builds
its uvicorn config itself with ``http="auto"``, so a worker registers this class as uvicorn's "auto"
implementation before it serves (``install_in_bentoml_worker``). In a cluster the Ingress bounds slow clients
too (serving/README.md).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    _Base = HttpToolsProtocol
else:
    _Base = object

TIMEOUT_BODY = b'{"error": "request headers not received in time (serving.header_timeout_seconds)"}'
TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(TIMEOUT_BODY)).encode() + b"\r\n\r\n" + TIMEOUT_BODY
)


class HeadTimeout(_Base):
    """Mixed in before uvicorn's httptools protocol (``bounded_protocol``): request heads within a time limit."""

    header_timeout: float = 10.0
    keep_alive: float | None = None  # None: uvicorn's own timeout_keep_alive

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.keep_alive is not None:
            self.timeout_keep_alive = self.keep_alive  # type: ignore[assignment]
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a byte is bounded too

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # nothing of ours is being answered
            self.transport.write(TIMEOUT_RESPONSE)
        self.transport.close()


def bounded_protocol(header_timeout: float, keep_alive: float | None = None) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with these limits (uvicorn instantiates it per connection)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    limits = {"header_timeout": header_timeout, "keep_alive": keep_alive}
    return type("BoundedHttpProtocol", (HeadTimeout, HttpToolsProtocol), limits)


def install_in_bentoml_worker(header_timeout: float, keep_alive: float) -> None:
    """Make the bounded protocol what ``uvicorn.Config(http="auto")`` loads, in this worker process only."""
    import uvicorn.config

    globals()["WorkerProtocol"] = bounded_protocol(header_timeout, keep_alive)
    uvicorn.config.HTTP_PROTOCOLS["auto"] = f"{__name__}:WorkerProtocol"
