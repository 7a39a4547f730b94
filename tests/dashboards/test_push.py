"""`shouwang dashboards push` against a fake Grafana on loopback that checks the requests against Grafana's API:
the request sequence and payloads, a second push that changes nothing, targeted updates, errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dashboards.build import DashboardSet, build_all, load_registry
from dashboards.context import BuildContext
from dashboards.provisioning import datasource
from dashboards.push import Action, GrafanaError, Pusher
from firmware_sim.scenario import load_scenario
from shouwang.cli import main
from shouwang.config import load_config
from shouwang.procs import free_port
from tests.dashboards.grafana_fake import FakeGrafana

DS = "shouwang-influxdb"


@pytest.fixture(scope="module")
def cfg():
    return load_config(env={"SHOUWANG_INFLUX__USERNAME": "grafana", "SHOUWANG_INFLUX__PASSWORD": "influx-pw"})


@pytest.fixture(scope="module")
def registry(cfg):  # noqa: ANN001
    return load_registry(cfg, load_scenario("demo"))


@pytest.fixture(scope="module")
def built(cfg, registry) -> DashboardSet:  # noqa: ANN001
    return build_all(registry, BuildContext.from_config(cfg))


def _push(grafana: FakeGrafana, dashboards: DashboardSet, ds: dict | None):
    with Pusher(grafana.url, grafana.token) as p:
        return p.push(dashboards, ds)


def test_first_push_creates_everything_in_order(grafana: FakeGrafana, cfg, built: DashboardSet) -> None:  # noqa: ANN001
    report = _push(grafana, built, datasource(cfg, "values"))
    uids = [d.uid for d in built.dashboards]
    assert grafana.lines() == [
        f"GET /api/datasources/uid/{DS}", "POST /api/datasources",
        "GET /api/folders/sw-demo-community", "POST /api/folders",
        "GET /api/folders/sw-system", "POST /api/folders",
        *[x for uid in uids for x in (f"GET /api/dashboards/uid/{uid}", "POST /api/dashboards/db")],
        "GET /api/search",
    ]
    assert not grafana.unexpected
    assert all(r.auth == f"Bearer {grafana.token}" for r in grafana.requests)
    assert [c.action for c in report.changes] == [Action.CREATED] * (1 + 2 + len(uids))
    # payloads as the API documents them
    ds_body = grafana.requests[1].body
    assert ds_body["type"] == "influxdb" and ds_body["access"] == "proxy" and ds_body["uid"] == DS
    assert ds_body["jsonData"]["dbName"] == "shouwang" and ds_body["user"] == "grafana"
    assert ds_body["secureJsonData"] == {"password": "influx-pw"}
    assert grafana.state.secrets[DS] == {"password": "influx-pw"}
    assert grafana.requests[3].body == {"title": "望川社区 (demo-community)", "uid": "sw-demo-community"}
    saves = [r.body for r in grafana.requests if r.line == "POST /api/dashboards/db"]
    for body, d in zip(saves, built.dashboards, strict=True):
        assert body["dashboard"] == {**d.model, "id": None}
        assert body["folderUid"] == d.folder.uid and body["overwrite"] is False and body["message"]
    search = grafana.requests[-1].query
    assert search["type"] == ["dash-db"] and search["tag"] == ["shouwang"]
    # what Grafana now holds is exactly what was built
    for d in built.dashboards:
        stored = grafana.state.dashboards[d.uid]
        assert {k: v for k, v in stored["dashboard"].items() if k not in ("id", "version")} == d.model
        assert stored["folderUid"] == d.folder.uid
    assert f"{3 + len(uids)} created, 0 updated, 0 unchanged" in report.lines()[-1]


def test_second_push_changes_nothing(grafana: FakeGrafana, cfg, built: DashboardSet) -> None:  # noqa: ANN001
    _push(grafana, built, datasource(cfg, "values"))
    before = {uid: e["dashboard"]["version"] for uid, e in grafana.state.dashboards.items()}
    grafana.clear()
    report = _push(grafana, built, datasource(cfg, "values"))
    assert all(c.action is Action.UNCHANGED for c in report.changes)
    assert not [r for r in grafana.requests if r.method != "GET"]  # reads only
    assert grafana.lines() == [f"GET /api/datasources/uid/{DS}", "GET /api/folders/sw-demo-community",
                               "GET /api/folders/sw-system",
                               *[f"GET /api/dashboards/uid/{d.uid}" for d in built.dashboards], "GET /api/search"]
    assert {uid: e["dashboard"]["version"] for uid, e in grafana.state.dashboards.items()} == before
    assert report.lines()[-1].endswith(f"0 created, 0 updated, {3 + len(built.dashboards)} unchanged, 0 stale")


def test_a_changed_station_updates_only_its_dashboard(grafana: FakeGrafana, cfg, registry,  # noqa: ANN001
                                                      built: DashboardSet) -> None:
    _push(grafana, built, None)
    st = registry.stations["rg-0001"]
    changed = dataclasses.replace(registry, stations={**registry.stations,
                                                      "rg-0001": dataclasses.replace(st, warning_m=3.6)})
    again = build_all(changed, BuildContext.from_config(cfg))
    grafana.clear()
    report = _push(grafana, again, None)
    updated = [c for c in report.changes if c.action is Action.UPDATED]
    assert [(c.kind, c.uid, c.detail) for c in updated] == [("dashboard", "sw-demo-community-river", "content")]
    [save] = [r.body for r in grafana.requests if r.line == "POST /api/dashboards/db"]
    stored_before = 1
    assert save["dashboard"]["id"] == grafana.state.dashboards["sw-demo-community-river"]["dashboard"]["id"]
    assert save["dashboard"]["version"] == stored_before and save["overwrite"] is False
    river = grafana.state.dashboards["sw-demo-community-river"]["dashboard"]
    assert river["version"] == 2 and "warning 3.6 m" in river["panels"][0]["title"]


def test_push_repairs_what_was_changed_in_grafana(grafana: FakeGrafana, cfg,  # noqa: ANN001
                                                  built: DashboardSet) -> None:
    """A renamed folder, a dashboard moved elsewhere, a data source pointed elsewhere: put back, secrets kept."""
    _push(grafana, built, datasource(cfg, "values"))
    s = grafana.state
    s.folders["sw-system"]["title"] = "renamed by hand"
    s.folders["other"] = {"id": 99, "uid": "other", "title": "Other", "version": 1}
    s.dashboards["sw-ingest-health"]["folderUid"] = "other"
    s.datasources[DS]["url"] = "http://elsewhere:8086"
    grafana.clear()
    report = _push(grafana, built, datasource(cfg, "values"))
    changed = {(c.kind, c.uid): c.detail for c in report.changes if c.action is Action.UPDATED}
    assert changed == {("datasource", DS): "changed: url", ("folder", "sw-system"): "was 'renamed by hand'",
                       ("dashboard", "sw-ingest-health"): "moved from folder 'other'"}
    put_ds = next(r for r in grafana.requests if r.line == f"PUT /api/datasources/uid/{DS}")
    assert "secureJsonData" not in put_ds.body  # Grafana keeps the stored secret
    assert grafana.state.secrets[DS] == {"password": "influx-pw"}
    assert s.datasources[DS]["url"] == "http://127.0.0.1:18086"
    put_folder = next(r for r in grafana.requests if r.line == "PUT /api/folders/sw-system")
    assert put_folder.body == {"title": "Shouwang · system", "version": 1}
    assert s.folders["sw-system"]["title"] == "Shouwang · system"
    assert s.dashboards["sw-ingest-health"]["folderUid"] == "sw-system"


def test_dashboards_no_longer_built_are_reported_not_deleted(grafana: FakeGrafana, built: DashboardSet) -> None:
    _push(grafana, built, None)
    fewer = DashboardSet(built.folders, [d for d in built.dashboards if d.kind != "water-staff"])
    report = _push(grafana, fewer, None)
    stale = [c for c in report.changes if c.action is Action.STALE]
    assert [c.uid for c in stale] == ["sw-demo-community-water-staff"]
    assert "sw-demo-community-water-staff" in grafana.state.dashboards
    assert not [r for r in grafana.requests if r.method == "DELETE"]


def test_errors_say_what_failed(grafana: FakeGrafana, built: DashboardSet) -> None:
    with Pusher(grafana.url, "wrong-token") as p, pytest.raises(GrafanaError, match="401"):
        p.push(built, None)
    closed = f"http://127.0.0.1:{free_port()}"
    with Pusher(closed, "t", timeout_s=2) as p, pytest.raises(GrafanaError, match="unreachable"):
        p.push(built, None)
    with pytest.raises(GrafanaError, match="expected http"):
        Pusher("grafana.example:3000", "t")
    with pytest.raises(GrafanaError, match="token"):
        Pusher(grafana.url, "")
    # someone saves the dashboard between our read and our write: Grafana's 412 surfaces, nothing is overwritten
    _push(grafana, built, None)
    original = grafana.dispatch

    def racing(method, path, query, raw, auth, ctype):  # noqa: ANN001, ANN202
        if method == "POST" and path == "/api/dashboards/db":
            grafana.state.dashboards["sw-ingest-health"]["dashboard"]["version"] += 1
        return original(method, path, query, raw, auth, ctype)

    grafana.dispatch = racing  # type: ignore[method-assign]
    grafana.state.dashboards["sw-ingest-health"]["dashboard"]["title"] = "edited"
    with Pusher(grafana.url, grafana.token) as p, pytest.raises(GrafanaError, match="412.*changed by someone else"):
        p.push(built, None)


def test_cli_push_reports_and_is_idempotent(grafana: FakeGrafana, tmp_path: Path, capsys: pytest.CaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["dashboards", "push", "--url", grafana.url, "--scenario", "demo", "--community", "demo-community"]
    monkeypatch.setenv("GRAFANA_TOKEN", grafana.token)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "created" in out and "sw-system" not in out  # --community: only its folder
    assert out.strip().splitlines()[-1].endswith("7 created, 0 updated, 0 unchanged, 0 stale")
    assert main([*args, "--no-datasource"]) == 0
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].endswith("0 created, 0 updated, 6 unchanged, 0 stale")
    assert "datasource" not in out
    monkeypatch.delenv("GRAFANA_TOKEN")
    assert main(args) == 2
    assert "token" in capsys.readouterr().err
    assert main([*args, "--token", "nope"]) == 2
    assert "401" in capsys.readouterr().err
