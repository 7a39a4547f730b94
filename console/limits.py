"""Request bodies are bounded before anything reads them (an ASGI middleware, outermost).

A body announced larger than the path's limit (Content-Length) gets 413 before a byte of it is
read; a body without a length (chunked) is counted as it arrives and refused at the limit, and
whatever the app made of the cut-short body is replaced by the 413. The answer closes the
connection, so the server does not go on reading the rest; so does any answer given before the
app read the body to its end (uvicorn would otherwise drain it, for as long as it keeps coming). Limits: 16 KiB where only a login
or a link is posted, api.max_body_bytes for the rest of the API and console, api.max_import_bytes
for the registry import.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.i18n import t

LOGIN_MAX = 16 * 1024
SMALL_PATHS = frozenset({"/api/login", "/api/logout", "/login"})
IMPORT_PATH = "/api/registry/import"


class _TooLarge(Exception):
    pass


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


def _chunked(scope: Scope) -> bool:
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


def refusal(scope: Scope, limit: int) -> Response:
    headers = {"Connection": "close"}  # the rest of the body is not read: the connection ends with the answer
    if scope["path"].startswith("/api/"):
        return JSONResponse({"detail": f"request body too large: at most {limit} bytes here", "code": "too_large",
                             "params": {"limit": limit}}, status_code=413, headers=headers)
    from console.pages import lang_of

    return PlainTextResponse(t("too_large", lang_of(Request(scope))).format(limit=limit), status_code=413,
                             headers=headers)


class BodyLimit:
    def __init__(self, app: ASGIApp, max_body: int, max_import: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_import = max_import

    def limit_for(self, path: str) -> int:
        if path == IMPORT_PATH:
            return self.max_import
        if path in SMALL_PATHS or path.startswith("/ack/"):
            return min(LOGIN_MAX, self.max_body)
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        length = _content_length(scope)
        if length is not None and length > limit:
            await refusal(scope, limit)(scope, receive, send)
            return
        received = 0
        exceeded = started = False
        unread = bool(length) or _chunked(scope)  # a body the app has not read to its end yet

        async def counted() -> Message:
            nonlocal received, exceeded, unread
            if exceeded:
                raise _TooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _TooLarge
                unread = unread and message.get("more_body", False)
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to a body cut short (FastAPI makes it a 400) gives way to the 413
            if message["type"] == "http.response.start":
                started = True
                if unread:  # answered without reading the body: close rather than let the server drain it
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await refusal(scope, limit)(scope, receive, send)
