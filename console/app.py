"""The FastAPI application: JSON API under /api, console pages, acknowledgement links, static files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from console import api_admin, api_alerts, api_auth, api_devices, checkin_pages, limits, ops, pages
from console.context import AppContext
from console.errors import error_code
from console.settings import ConsoleSettings
from storage.influx import InfluxClient
from storage.sql import Database

log = logging.getLogger(__name__)
STATIC = Path(__file__).with_name("static")


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        kind = err.get("type", "")
        if kind == "json_invalid":
            parts.append(f"body: not valid JSON ({err.get('ctx', {}).get('error', 'syntax error')})")
        elif kind == "model_attributes_type" and not where:
            parts.append("body: expected a JSON object (send Content-Type: application/json)")
        else:
            parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def create_app(cfg: ConsoleSettings, *, db: Database | None = None, influx: InfluxClient | None = None,
               follow_mqtt: bool | None = None, publish: bool | None = None) -> FastAPI:
    """Build the app; db/influx default to the configured ones (owned and closed by the app)."""
    owns_db = db is None
    db = db or Database.from_config(cfg)
    owns_influx = influx is None
    influx = influx or InfluxClient(cfg.influx)
    ctx = AppContext(cfg, db, influx)
    follow = cfg.api.follow_mqtt if follow_mqtt is None else follow_mqtt

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        follower = None
        beating = asyncio.create_task(ops.beat_forever(cfg.state_path, app.state.metrics))
        if follow:
            from alerts.sinks import MqttAlertSink
            from console.stream import MqttFollower

            follower = MqttFollower(cfg, ctx.hub).start()
            if publish is not False and cfg.alerts.publish_mqtt:
                ctx.sinks.append(MqttAlertSink(follower.publish))
        if cfg.alerts.write_influx and publish is not False:
            from alerts.sinks import InfluxAlertSink

            sink = InfluxAlertSink(influx, lambda: True)
            ctx.sinks.append(sink)
            ctx.on_close.append(lambda: (sink.flush(5), sink.close()))
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            if follower is not None:
                follower.stop()
            ctx.close()
            ctx.sinks.clear()
            if owns_influx:
                influx.close()
            if owns_db:
                db.close()

    app = FastAPI(title="Shouwang API", version="1", lifespan=lifespan,
                  description="Alerts, devices, river stations and the registry of a Shouwang site. Log in with "
                              "POST /api/login and send the token as `Authorization: Bearer ...`.")
    app.state.ctx = ctx
    app.state.metrics = ops.ApiMetrics()
    app.state.metrics_from = cfg.api.metrics_from
    # the last added runs first: bodies are bounded before anything else sees the request
    if cfg.api.trusted_proxies:  # X-Forwarded-For/-Proto believed from these peers only (uvicorn's middleware)
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=cfg.api.trusted_proxies)
    app.add_middleware(limits.BodyLimit, max_body=cfg.api.max_body_bytes, max_import=cfg.api.max_import_bytes)
    app.add_middleware(ops.MetricsMiddleware, metrics=app.state.metrics)  # outermost: times 413s too

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_message(exc), "code": "invalid", "params": {},
                             "errors": _jsonable(exc.errors())}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        if not request.url.path.startswith("/api/") and exc.status_code == 401:
            return pages.login_redirect(request)
        code, params = error_code(exc)  # the console says it in the reader's words (console/errors.py)
        return JSONResponse({"detail": exc.detail, "code": code, "params": params}, status_code=exc.status_code,
                            headers=exc.headers)

    for r in (api_auth.router, api_alerts.router, api_devices.router, api_admin.router, ops.router, pages.router,
              checkin_pages.router):
        app.include_router(r)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _jsonable(errors: list) -> list:
    out = []
    for e in errors[:20]:
        out.append({"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                    "type": str(e.get("type", ""))})
    return out
