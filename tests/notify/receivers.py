"""Real local receivers standing in for the outside world: an HTTP server and an SMTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shouwang.procs import free_port


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at_ns: int  # time.perf_counter_ns() when the body was read

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A threaded HTTP server that records every request; `fail` decides which to answer with 500."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    fail: Callable[[Received], bool] = lambda r: False
    on_receive: Callable[[Received], None] | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        recv = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                r = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                             time.perf_counter_ns())
                with recv.cond:
                    recv.received.append(r)
                    recv.cond.notify_all()
                if recv.on_receive is not None:
                    recv.on_receive(r)
                failing = recv.fail(r)
                # DingTalk/WeCom/Feishu answer 200 with an errcode; Apprise checks it
                out = b'{"errcode": 0, "errmsg": "ok", "code": 0}' if not failing else b'{"errcode": 500}'
                self.send_response(500 if failing else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_PUT = do_GET = _any  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self.port = self.port or free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> HttpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def wait(self, pred: Callable[[list[Received]], Any], timeout: float = 10.0) -> Any:
        """Block until pred(received) is truthy; returns it (AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                v = pred(list(self.received))
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.received)} requests, not what was awaited")
                self.cond.wait(left)

    def on(self, prefix: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path.startswith(prefix)]


class SmtpReceiver:
    """aiosmtpd on a free port, keeping each message as parsed e-mail."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        recv = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
                recv.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                recv.messages.append(message_from_bytes(envelope.original_content, policy=policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpReceiver:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
