"""What the people who run the API see of it: Prometheus metrics, its heartbeat, and the state of the other services.

    GET /metrics          requests and their latency by route template and status (no ids, no personal data);
                          answered to loopback clients and `api.metrics_from` only
    GET /api/services     staff: which watched service is not working (the console's red banner)
    heartbeat             beaten from the event loop: a hung API stops beating (ground/heartbeat.py)
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.context import AppContext
from console.deps import Caller, get_ctx, staff
from ground.heartbeat import Heartbeat, Problem, assess, read_beats
from notify.service_texts import banner_text


class ApiMetrics:
    """The API's counters in their own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.latency = Histogram("api_request_seconds", "time to answer a request, by route template and status",
                                 ["method", "route", "status"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.requests = Counter("api_requests", "requests answered", ["status"], registry=r)


class MetricsMiddleware:
    """Times every HTTP request; the route label is the matched template (/api/alerts/{alert_id}), never a path."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.latency.labels(scope["method"], route, str(status[0])).observe(time.perf_counter() - started)
            self.metrics.requests.labels(str(status[0])).inc()


async def beat_forever(state_path: Path, metrics: ApiMetrics) -> None:
    """The API's heartbeat, from its event loop (cancelled at shutdown, which removes the file)."""
    heartbeat = Heartbeat(state_path, "api")
    try:
        while True:
            heartbeat.beat({"requests": int(sum(s.value for m in metrics.requests.collect() for s in m.samples
                                                if s.name.endswith("_total")))}, force=True)
            await asyncio.sleep(1.0)
    finally:
        heartbeat.stopped()


router = APIRouter()


def _may_scrape(request: Request) -> bool:
    allowed = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", *request.app.state.metrics_from)]
    try:
        peer = ipaddress.ip_address(request.client.host if request.client else "")
    except ValueError:
        return False
    return any(peer in net for net in allowed if net.version == peer.version)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    if not _may_scrape(request):
        raise HTTPException(403, "metrics are answered to loopback and api.metrics_from only")
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def service_problems(ctx: AppContext) -> list[Problem]:
    """Watched services that are not working now, judged from their beat files."""
    w = ctx.cfg.watchdog
    return assess(read_beats(ctx.cfg.state_path), ctx.now(), w.stale_after_s, w.services)


def fault_banner(ctx: AppContext, lang: str) -> str:
    """The red banner's text ('' when every watched service works)."""
    problems = service_problems(ctx)
    return banner_text(problems, lang, ZoneInfo(ctx.cfg.alerts.timezone)) if problems else ""


@router.get("/api/services", tags=["status"])
def services(request: Request, c: Caller = Depends(staff), lang: str = "zh") -> dict:
    """Watched services that are not working: [{service, trouble, since_ms}] (empty when all are), and the
    banner's text in `lang`."""
    ctx = get_ctx(request)
    problems = service_problems(ctx)
    tz = ZoneInfo(ctx.cfg.alerts.timezone)
    return {"checked_at_ms": ctx.now(),
            "problems": [{"service": p.service, "trouble": str(p.trouble), "since_ms": p.since_ms} for p in problems],
            "banner": banner_text(problems, "en" if lang == "en" else "zh", tz) if problems else ""}
