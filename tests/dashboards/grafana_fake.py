"""A stand-in for a Grafana server: real HTTP on loopback, checking requests against Grafana's documented API.

Only the endpoints `shouwang dashboards push` may use are served (legacy HTTP API, docs:
developers/http_api/{data_source,folder,dashboard,folder_dashboard_search}.md):

    GET  /api/datasources/uid/:uid     PUT /api/datasources/uid/:uid     POST /api/datasources
    GET  /api/folders/:uid             PUT /api/folders/:uid             POST /api/folders
    GET  /api/dashboards/uid/:uid      POST /api/dashboards/db           GET  /api/search

Every request needs `Authorization: Bearer <token>` (401 otherwise) and JSON bodies a JSON
content type; bodies are validated as Grafana does (uid <= 40 characters, title required,
folder must exist, id/version rules of dashboards/db with 412 version-mismatch / name-exists,
409 for an existing folder uid). Anything else is answered 404 and recorded as unexpected.
Every request is logged (method, path, query, body) for the tests to check the sequence.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

UID = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    auth: str

    @property
    def line(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class State:
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> {"dashboard":..., "folderUid":...}
    next_id: int = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class Error(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "dashboard"


class FakeGrafana:
    """Start with .start(); .url, .token, .requests, .state, .unexpected."""

    def __init__(self, token: str = "glsa_test_token") -> None:
        self.token = token
        self.state = State()
        self.requests: list[Request] = []
        self.unexpected: list[str] = []
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = fake.dispatch(self.command, parts.path, parse_qs(parts.query), raw,
                                             self.headers.get("Authorization", ""),
                                             self.headers.get("Content-Type", ""))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="fake-grafana", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeGrafana:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def lines(self) -> list[str]:
        return [r.line for r in self.requests]

    def clear(self) -> None:
        self.requests.clear()

    # --- routing --------------------------------------------------------------------------

    def dispatch(self, method: str, path: str, query: dict[str, list[str]], raw: bytes, auth: str,
                 ctype: str) -> tuple[int, Any]:
        with self.lock:
            body = None
            try:
                if raw:
                    if not ctype.startswith("application/json"):
                        raise Error(415, {"message": f"Content-Type {ctype!r} is not JSON"})
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise Error(400, {"message": "bad request data"}) from None
                self.requests.append(Request(method, path, query, body, auth))
                if auth != f"Bearer {self.token}":
                    raise Error(401, {"message": "Unauthorized"})
                return 200, self._route(method, path, query, body)
            except Error as exc:
                return exc.status, exc.body

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Any:
        s = self.state
        m = re.fullmatch(r"/api/datasources/uid/([^/]+)", path)
        if m and method == "GET":
            return self._ds_view(self._ds(m.group(1)))
        if m and method == "PUT":
            return self._ds_update(m.group(1), self._obj(body))
        if path == "/api/datasources" and method == "POST":
            return self._ds_create(self._obj(body))
        m = re.fullmatch(r"/api/folders/([^/]+)", path)
        if m and method == "GET":
            if m.group(1) not in s.folders:
                raise Error(404, {"message": "folder not found"})
            return s.folders[m.group(1)]
        if m and method == "PUT":
            return self._folder_update(m.group(1), self._obj(body))
        if path == "/api/folders" and method == "POST":
            return self._folder_create(self._obj(body))
        m = re.fullmatch(r"/api/dashboards/uid/([^/]+)", path)
        if m and method == "GET":
            uid = m.group(1)
            if uid not in s.dashboards:
                raise Error(404, {"message": "Dashboard not found"})
            entry = s.dashboards[uid]
            f = s.folders.get(entry["folderUid"], {})
            return {"dashboard": copy.deepcopy(entry["dashboard"]),
                    "meta": {"isStarred": False, "url": f"/d/{uid}/{_slug(entry['dashboard']['title'])}",
                             "folderId": f.get("id", 0), "folderUid": entry["folderUid"],
                             "folderTitle": f.get("title", "General"), "slug": _slug(entry["dashboard"]["title"]),
                             "version": entry["dashboard"]["version"], "provisioned": False}}
        if path == "/api/dashboards/db" and method == "POST":
            return self._save_dashboard(self._obj(body))
        if path == "/api/search" and method == "GET":
            return self._search(query)
        self.unexpected.append(f"{method} {path}")
        raise Error(404, {"message": "Not found"})

    @staticmethod
    def _obj(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Error(400, {"message": "bad request data: expected a JSON object"})
        return body

    # --- data sources ---------------------------------------------------------------------------

    def _ds(self, uid: str) -> dict[str, Any]:
        if uid not in self.state.datasources:
            raise Error(404, {"message": "Data source not found"})
        return self.state.datasources[uid]

    def _ds_view(self, ds: dict[str, Any]) -> dict[str, Any]:
        view = copy.deepcopy(ds)
        view["secureJsonFields"] = {k: True for k in self.state.secrets.get(ds["uid"], {})}
        return view

    def _check_ds(self, body: dict[str, Any]) -> None:
        for key in ("name", "type", "access"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise Error(400, {"message": f"Required field {key} missing"})
        if body["access"] not in ("proxy", "direct"):
            raise Error(400, {"message": "access must be proxy or direct"})
        if "uid" in body and not UID.match(body["uid"]):
            raise Error(400, {"message": "invalid uid"})

    def _ds_create(self, body: dict[str, Any]) -> dict[str, Any]:
        self._check_ds(body)
        s = self.state
        if any(d["name"] == body["name"] for d in s.datasources.values()):
            raise Error(409, {"message": "data source with the same name already exists"})
        uid = body.get("uid") or f"ds{s.next_id}"
        if uid in s.datasources:
            raise Error(409, {"message": "data source with the same uid already exists"})
        ds = {"id": s.new_id(), "uid": uid, "orgId": 1, "typeLogoUrl": "", "password": "", "user": "",
              "database": "", "basicAuth": False, "basicAuthUser": "", "withCredentials": False, "isDefault": False,
              "jsonData": {}, "version": 1, "readOnly": False}
        ds.update({k: v for k, v in body.items() if k not in ("secureJsonData", "uid")})
        s.datasources[uid] = ds
        s.secrets[uid] = dict(body.get("secureJsonData") or {})
        return {"datasource": self._ds_view(ds), "id": ds["id"], "message": "Datasource added", "name": ds["name"]}

    def _ds_update(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        ds = self._ds(uid)
        self._check_ds(body)
        new = {**ds, **{k: v for k, v in body.items() if k not in ("secureJsonData", "id", "uid", "orgId")}}
        new["version"] = ds["version"] + 1
        self.state.datasources[uid] = new
        if body.get("secureJsonData"):  # as Grafana: secrets not sent are kept
            self.state.secrets[uid].update(body["secureJsonData"])
        return {"datasource": self._ds_view(new), "id": new["id"], "message": "Datasource updated",
                "name": new["name"]}

    # --- folders ---------------------------------------------------------------------------------

    def _folder_view(self, uid: str, title: str, fid: int, version: int) -> dict[str, Any]:
        return {"id": fid, "uid": uid, "title": title, "url": f"/dashboards/f/{uid}/{_slug(title)}", "hasAcl": False,
                "canSave": True, "canEdit": True, "canAdmin": True, "createdBy": "admin",
                "created": "2026-01-01T00:00:00Z", "updatedBy": "admin", "updated": "2026-01-01T00:00:00Z",
                "version": version}

    def _folder_create(self, body: dict[str, Any]) -> dict[str, Any]:
        title, uid = body.get("title"), body.get("uid")
        if not isinstance(title, str) or not title.strip():
            raise Error(400, {"message": "folder title cannot be empty"})
        if uid is not None and not UID.match(uid):
            raise Error(400, {"message": "uid contains illegal characters or is too long"})
        s = self.state
        uid = uid or f"f{s.next_id}"
        if uid in s.folders:
            raise Error(409, {"message": "a folder with the same uid already exists"})
        if any(f["title"] == title for f in s.folders.values()):
            raise Error(409, {"message": "a folder or dashboard in the general folder with the same name exists"})
        s.folders[uid] = self._folder_view(uid, title, s.new_id(), 1)
        return s.folders[uid]

    def _folder_update(self, uid: str, body: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        if uid not in s.folders:
            raise Error(404, {"message": "folder not found"})
        f = s.folders[uid]
        if not body.get("overwrite") and body.get("version") != f["version"]:
            raise Error(412, {"message": "The folder has been changed by someone else", "status": "version-mismatch"})
        title = body.get("title") or f["title"]
        s.folders[uid] = self._folder_view(uid, title, f["id"], f["version"] + 1)
        return s.folders[uid]

    # --- dashboards --------------------------------------------------------------------------------

    def _save_dashboard(self, body: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        d = body.get("dashboard")
        if not isinstance(d, dict):
            raise Error(400, {"message": "dashboard is required"})
        if not isinstance(d.get("title"), str) or not d["title"].strip():
            raise Error(400, {"message": "Dashboard title cannot be empty"})
        uid = d.get("uid")
        if not isinstance(uid, str) or not UID.match(uid):
            raise Error(400, {"message": "uid contains illegal characters or is longer than 40 characters"})
        folder = body.get("folderUid", "")
        if folder and folder not in s.folders:
            raise Error(400, {"message": "folder not found"})
        if "overwrite" in body and not isinstance(body["overwrite"], bool):
            raise Error(400, {"message": "overwrite must be a boolean"})
        old = s.dashboards.get(uid)
        if old is not None:
            stored = old["dashboard"]
            if not body.get("overwrite"):
                if d.get("id") is None:
                    raise Error(412, {"message": "A dashboard with the same uid already exists",
                                      "status": "name-exists"})
                if d["id"] != stored["id"] or d.get("version") != stored["version"]:
                    raise Error(412, {"message": "The dashboard has been changed by someone else",
                                      "status": "version-mismatch"})
            did, version = stored["id"], stored["version"] + 1
        else:
            if d.get("id") is not None:
                raise Error(404, {"message": "Dashboard not found"})
            did, version = s.new_id(), 1
        saved = {**copy.deepcopy(d), "id": did, "uid": uid, "version": version}
        s.dashboards[uid] = {"dashboard": saved, "folderUid": folder}
        return {"id": did, "uid": uid, "url": f"/d/{uid}/{_slug(d['title'])}", "status": "success",
                "version": version, "slug": _slug(d["title"])}

    def _search(self, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        types = query.get("type", [])
        if types and types != ["dash-db"]:
            return []
        tags = query.get("tag", [])
        out = []
        for uid, entry in sorted(self.state.dashboards.items()):
            d = entry["dashboard"]
            if not all(t in d.get("tags", []) for t in tags):
                continue
            f = self.state.folders.get(entry["folderUid"], {})
            out.append({"id": d["id"], "uid": uid, "title": d["title"], "uri": f"db/{_slug(d['title'])}",
                        "url": f"/d/{uid}/{_slug(d['title'])}", "slug": "", "type": "dash-db",
                        "tags": d.get("tags", []), "isStarred": False, "folderId": f.get("id", 0),
                        "folderUid": entry["folderUid"], "folderTitle": f.get("title", ""),
                        "folderUrl": f.get("url", "")})
        limit = int(query.get("limit", ["1000"])[0])
        return out[:limit]
