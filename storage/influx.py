"""InfluxDB through the v1-compatible HTTP API: line protocol to /write, InfluxQL on /query.

The same calls work against InfluxDB 1.x (basic auth), 2.x (v1 compatibility, token)
and 3.x, so there is one code path. Errors are translated where they enter:
connection problems, timeouts and 5xx become InfluxUnavailable (retry later), 4xx
become InfluxRejected (this request will never succeed as it is).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ground.errors import InfluxRejected, InfluxUnavailable
from storage.settings import InfluxConfig

log = logging.getLogger(__name__)


class InfluxClient:
    """A small synchronous client for /ping, /write and /query."""

    def __init__(self, cfg: InfluxConfig) -> None:
        self.cfg = cfg
        headers = {}
        auth = None
        if cfg.token.get_secret_value():
            headers["Authorization"] = f"Token {cfg.token.get_secret_value()}"
        elif cfg.username:
            auth = httpx.BasicAuth(cfg.username, cfg.password.get_secret_value())
        self._http = httpx.Client(base_url=cfg.base_url, headers=headers, auth=auth,
                                  timeout=httpx.Timeout(cfg.timeout_s, connect=min(cfg.timeout_s, 3.0)))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> InfluxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            resp = self._http.request(method, path, **kw)
        except httpx.TimeoutException as exc:
            raise InfluxUnavailable(f"InfluxDB {path} timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise InfluxUnavailable(f"InfluxDB {path} unreachable: {exc!r}") from exc
        if resp.status_code >= 500:
            raise InfluxUnavailable(f"InfluxDB {path} answered {resp.status_code}", resp.status_code,
                                    resp.text[:2000])
        if resp.status_code >= 400:
            raise InfluxRejected(f"InfluxDB {path} answered {resp.status_code}: {resp.text[:300]}",
                                 resp.status_code, resp.text[:2000])
        return resp

    def ping(self) -> bool:
        """True when InfluxDB answers /ping."""
        try:
            return self._request("GET", "/ping").status_code == 204
        except InfluxUnavailable:
            return False

    def write(self, body: bytes, precision: str = "ns") -> None:
        """Write line protocol; raises InfluxUnavailable or InfluxRejected."""
        self._request("POST", "/write", params={"db": self.cfg.database, "precision": precision},
                      content=body)

    def query(self, q: str, *, epoch: str = "ms", db: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL; returns the series of the first statement (empty list if none)."""
        resp = self._request("POST", "/query", data={"q": q, "db": db or self.cfg.database, "epoch": epoch})
        results = resp.json().get("results", [])
        for res in results:
            if "error" in res:
                raise InfluxRejected(f"InfluxQL error: {res['error']}", resp.status_code, res["error"])
        return results[0].get("series", []) if results else []

    def rows(self, q: str, **kw: Any) -> list[dict[str, Any]]:
        """Run InfluxQL and return every row of every series as a dict (tags included)."""
        out = []
        for series in self.query(q, **kw):
            tags = series.get("tags", {})
            for values in series.get("values", []):
                out.append({**tags, **dict(zip(series["columns"], values, strict=True))})
        return out

    def ensure_database(self) -> None:
        """Create the database and set its default retention policy (idempotent)."""
        db, dur = self.cfg.database, self.cfg.retention
        dur = "INF" if dur == "0s" else dur
        self.query(f'CREATE DATABASE "{db}"', db="")
        self.query(f'ALTER RETENTION POLICY "autogen" ON "{db}" DURATION {dur} DEFAULT', db="")
        log.info("database %s ready, retention %s", db, dur)
