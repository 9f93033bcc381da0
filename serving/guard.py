"""ASGI middleware in front of the predict route: strict HTTP, bounded work, errors that name the record and field.

What a POST /predict goes through, in order, before BentoML parses anything (each refusal is JSON
``{"error": "...", "field": "..."}``, never a 5xx):

1. **Concurrency**: at most ``serving.max_concurrency`` predict calls are read or scored at once in a process;
   one more gets 503 with ``Retry-After`` at once instead of a place in a queue without end. Probes and every
   other route never wait behind this limit.
2. **Media type**: JSON only, by the parsed media type (``application/json``, ``; charset=utf-8`` allowed);
   anything else (none, text/plain, a form, multipart) gets 415 naming what is accepted, and so does a
   compressed body (``Content-Encoding``). Malformed multipart can no longer reach a parser that answers 500.
3. **Length**: no body and no length (HTTP/1.0 without Content-Length, or neither header) gets 411; an empty
   body 400; a declared length over ``serving.max_body_bytes`` gets 413, and so does a chunked body that grows
   past it. The body of a refused upload is read and discarded (up to ``DRAIN_FACTOR`` times the limit) before
   the 413 is sent, so the client reads the answer instead of a "connection reset"; past that the connection is
   closed after the answer, as HTTP servers do.
4. **Time**: the whole body must arrive within ``serving.body_timeout_seconds`` (408 and the connection closed),
   so a client declaring more bytes than it sends cannot hold a slot.
5. **Errors**: BentoML's pydantic error list becomes one readable line per problem,
   ``records[3].tenure_months: Input should be less than or equal to 72``, with the structured list kept (with
   ``field`` and ``index`` added) for programs.

A request that passes costs a few header comparisons and one buffered read of its body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MAX_LISTED_ERRORS = 20
ACCEPTED = "application/json"
DRAIN_FACTOR = 8  # an oversized body up to 8x the limit is read and discarded so its 413 reaches the client
RETRY_AFTER_S = 1


def field_path(loc: list[Any] | tuple[Any, ...]) -> str:
    """('records', 3, 'tenure_months') -> 'records[3].tenure_months'; () -> 'body'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def describe_errors(detail: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """pydantic's error list -> (one line naming every field, the list with 'field' and 'index' added)."""
    enriched = []
    for error in detail:
        loc = list(error.get("loc") or [])
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        enriched.append({**error, "field": field_path(loc), "index": index})
    lines = [f"{e['field']}: {e.get('msg', 'invalid')}" for e in enriched[:MAX_LISTED_ERRORS]]
    if len(enriched) > MAX_LISTED_ERRORS:
        lines.append(f"... and {len(enriched) - MAX_LISTED_ERRORS} more")
    return "; ".join(lines), enriched


async def json_response(
    send: Send, status: int, payload: dict[str, Any], headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    body = json.dumps(payload).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


def media_type_problem(value: bytes | None) -> str | None:
    """Why a Content-Type is refused (None: it is JSON in UTF-8). Parsed, not compared as a string."""
    if value is None:
        return "no Content-Type header"
    text = value.decode("latin-1")
    kind, *params = (part.strip() for part in text.split(";"))
    if kind.lower() != ACCEPTED:
        return f"Content-Type {text!r}"
    for param in params:
        name, _, raw = param.partition("=")
        if name.strip().lower() == "charset" and raw.strip().strip('"').lower() not in {"utf-8", "utf8"}:
            return f"Content-Type {text!r} (JSON is UTF-8)"
    return None


@dataclass(frozen=True)
class Limits:
    """What one predict call may use: from the project's ``serving`` section."""

    max_body_bytes: int
    max_concurrency: int
    body_timeout_seconds: float

    @property
    def drain_bytes(self) -> int:
        return self.max_body_bytes * DRAIN_FACTOR


class _Refused(Exception):  # noqa: N818 - control flow inside the guard, never raised out of it
    def __init__(self, status: int, error: str, field: str = "body", close: bool = False) -> None:
        super().__init__(error)
        self.status, self.error, self.field, self.close = status, error, field, close


class ContractGuard:
    """See the module docstring. ``paths``: the routes it guards (the predict route)."""

    def __init__(
        self,
        app: ASGIApp,
        limits: Limits,
        paths: tuple[str, ...] = ("/predict",),
        on_load: Callable[[int], None] | None = None,
    ) -> None:
        self.app, self.limits, self.paths = app, limits, paths
        self.in_progress = 0
        self.on_load = on_load  # told the number of predict calls in progress whenever it changes (a gauge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if self.in_progress >= self.limits.max_concurrency:
            await self._busy(send)
            return
        self._count(+1)
        try:
            try:
                replay = await self._checked_body(scope, receive)
            except _Refused as refused:
                close = ((b"connection", b"close"),) if refused.close else ()
                await json_response(send, refused.status, {"error": refused.error, "field": refused.field}, close)
                return
            if replay is None:  # the client went away
                return
            await self.app(scope, replay, _ErrorRewriter(send))
        finally:
            self._count(-1)

    def _count(self, change: int) -> None:
        self.in_progress += change
        if self.on_load is not None:
            self.on_load(self.in_progress)

    async def _busy(self, send: Send) -> None:
        error = (
            f"busy: {self.in_progress} predict calls are in progress in this process, the most it takes at once "
            f"(serving.max_concurrency); retry after {RETRY_AFTER_S} s"
        )
        retry = ((b"retry-after", str(RETRY_AFTER_S).encode()),)
        await json_response(send, 503, {"error": error, "field": "request"}, retry)

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive | None:
        headers = dict(scope.get("headers") or ())  # the last of a repeated header: only the ones below matter
        problem = media_type_problem(headers.get(b"content-type"))
        if problem is not None:
            raise _Refused(415, f"body: {problem} is not accepted; send {ACCEPTED} (UTF-8)", "content-type")
        encoding = headers.get(b"content-encoding", b"identity").decode("latin-1").strip().lower()
        if encoding != "identity":
            raise _Refused(415, f"body: Content-Encoding {encoding!r} is not accepted; send it uncompressed")
        declared = self._declared_length(headers)
        async with _Deadline(self.limits.body_timeout_seconds):
            if declared is not None and declared > self.limits.max_body_bytes:
                unread = await self._drain(receive, declared)
                raise self._too_large(f"{declared} bytes", close=unread)
            body = await self._read(receive)
        if body is None:
            return None
        if not body:
            raise _Refused(400, 'body: empty; send a JSON object {"records": [...]}')
        replay = [{"type": "http.request", "body": body, "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        return replayed

    def _declared_length(self, headers: dict[bytes, bytes]) -> int | None:
        """The Content-Length, None for a chunked body; 411 when there is neither, 400 when it is not a number."""
        length = headers.get(b"content-length")
        if length is None:
            if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
                return None
            raise _Refused(
                411,
                "body: no Content-Length and no chunked Transfer-Encoding, so there is no body to read; send the "
                'JSON object {"records": [...]} with a Content-Length header',
                "content-length",
            )
        if not length.strip().isdigit():
            raise _Refused(400, f"Content-Length: {length.decode('latin-1')!r} is not a non-negative integer")
        return int(length)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body (None if the client disconnected), within the size limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                unread = bool(message.get("more_body")) and await self._drain(receive, None, size)
                raise self._too_large("larger than that", close=unread)
            chunks.append(chunk)
            if not message.get("more_body"):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    async def _drain(self, receive: Receive, declared: int | None, read: int = 0) -> bool:
        """Read and discard a refused body, up to ``drain_bytes``; True if some of it is still unread."""
        if declared is not None and declared > self.limits.drain_bytes:
            return True
        while read <= self.limits.drain_bytes:
            message = await receive()
            if message["type"] != "http.request":
                return False
            read += len(message.get("body", b""))
            if not message.get("more_body"):
                return False
        return True

    def _too_large(self, size: str, close: bool) -> _Refused:
        return _Refused(
            413,
            f"body: the request body is {size}; this service accepts at most {self.limits.max_body_bytes} bytes "
            "(serving.max_body_bytes in project.yaml); send fewer records per request",
            close=close,
        )


class _Deadline:
    """The body's time limit: ``asyncio.timeout`` turned into a 408 (one timer, no extra task per request)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._timeout = asyncio.timeout(seconds)

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self._timeout.__aexit__(*exc)
        except TimeoutError:
            raise _Refused(
                408,
                f"body: not received within {self.seconds:g} s (serving.body_timeout_seconds); send the whole "
                "body promptly, and no fewer bytes than the Content-Length says",
                close=True,
            ) from None


class _ErrorRewriter:
    """Wraps ``send``: passes everything through except a 400 from validation, which it rewrites."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.start: Message | None = None
        self.body: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            if message["status"] == 400:
                self.start = message  # hold it until the body is complete
                return
        elif message["type"] == "http.response.body" and self.start is not None:
            self.body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            await self._send_rewritten()
            return
        await self.send(message)

    async def _send_rewritten(self) -> None:
        assert self.start is not None
        raw = b"".join(self.body)
        try:
            detail = json.loads(raw)["detail"]
        except (ValueError, KeyError, TypeError):
            detail = None
        if isinstance(detail, list) and all(isinstance(d, dict) for d in detail):
            error, enriched = describe_errors(detail)
            body = json.dumps({"error": error, "detail": enriched}).encode()
        else:
            body = raw  # not a validation error list: leave it as BentoML wrote it
        headers = [(k, v) for k, v in self.start.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self.send({**self.start, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})
