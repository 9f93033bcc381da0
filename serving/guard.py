"""An ASGI middleware in front of the predict route: body-size limit, and errors that name the record and field.

BentoML validates the body with the generated pydantic model and answers 400 with pydantic's error list. This
guard turns that list into one readable line per problem, ``records[3].tenure_months: Input should be less than
or equal to 72``, keeps the structured list (with ``field`` and ``index`` added) for programs, and refuses
bodies over ``serving.max_body_bytes`` with 413 before anything parses them. It is plain ASGI: a request that
is neither too large nor invalid costs one header lookup and one status check.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
MAX_LISTED_ERRORS = 20


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


async def _json_response(send: Send, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class ContractGuard:
    """See the module docstring. ``paths``: the routes it guards (the predict route)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, paths: tuple[str, ...] = ("/predict",)) -> None:
        self.app, self.max_body_bytes, self.paths = app, max_body_bytes, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        length = self._content_length(scope)
        if length is None:
            replayed = await self._buffered(receive)
            if replayed is None:
                await self._too_large(send, None)
                return
            receive = replayed
        elif length < 0:
            await _json_response(send, 400, {"error": "Content-Length: not a non-negative integer"})
            return
        elif length > self.max_body_bytes:
            await self._too_large(send, length)
            return
        await self.app(scope, receive, _ErrorRewriter(send))

    @staticmethod
    def _content_length(scope: Scope) -> int | None:
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                return int(value) if value.isdigit() else -1
        return None

    async def _buffered(self, receive: Receive) -> Receive | None:
        """A body sent without Content-Length (chunked) is read here, up to the limit, then replayed."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                return None
            if not message.get("more_body"):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        return replayed

    async def _too_large(self, send: Send, length: int | None) -> None:
        size = f"{length} bytes" if length is not None else "larger than that"
        await _json_response(
            send,
            413,
            {
                "error": f"body: the request body is {size}; this service accepts at most {self.max_body_bytes} "
                "bytes (serving.max_body_bytes in project.yaml); send fewer records per request",
                "field": "body",
            },
        )


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


class RequiredBodyInDocs:
    """Marks the guarded routes' request bodies as required in BentoML's OpenAPI document (/docs.json).

    BentoML 1.4 leaves ``requestBody.required`` out, which tells clients (and schema-driven fuzzers) that a
    predict call without a body is valid; it is not. Only GET /docs.json passes through this rewrite.
    """

    def __init__(self, app: ASGIApp, paths: tuple[str, ...] = ("/predict",), doc_path: str = "/docs.json") -> None:
        self.app, self.paths, self.doc_path = app, paths, doc_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != self.doc_path:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        start = held[0]
        raw = b"".join(m.get("body", b"") for m in held[1:])
        if start["status"] == 200:
            spec = json.loads(raw)
            for path in self.paths:
                body = spec.get("paths", {}).get(path, {}).get("post", {}).get("requestBody")
                if body is not None:
                    body["required"] = True
            raw = json.dumps(spec).encode()
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        await send({**start, "headers": [*headers, (b"content-length", str(len(raw)).encode())]})
        await send({"type": "http.response.body", "body": raw})
