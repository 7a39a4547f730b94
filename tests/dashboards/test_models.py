"""The built JSON validates against grafana-foundation-sdk's models; the validator catches what it should;
`shouwang dashboards build` writes files Grafana can provision, with no personal data in them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

from dashboards.build import build_all, load_registry
from dashboards.context import BuildContext
from dashboards.influxql import InfluxQLQuery
from dashboards.validate import DashboardInvalid, check, panels
from firmware_sim.scenario import load_scenario
from registry.scenario import registry_rows
from shouwang.cli import main
from shouwang.config import load_config
from tests.dashboards.conftest import DemoData


@pytest.fixture(scope="module")
def demo_set():
    cfg = load_config(env={})
    return build_all(load_registry(cfg, load_scenario("demo")), BuildContext.from_config(cfg))


def test_every_built_dashboard_decodes_into_the_sdk_models(demo_set) -> None:  # noqa: ANN001
    for d in demo_set.dashboards:
        dash = check(d.model, datasource_uid="shouwang-influxdb")
        assert dash.uid == d.uid and dash.title == d.title
        ps = panels(dash)
        assert ps, d.uid
        for p in ps:
            assert p.targets and all(isinstance(t, InfluxQLQuery) for t in p.targets)
            assert p.options is not None and not isinstance(p.options, dict)  # typed panel options


def _staff(demo_set) -> dict:  # noqa: ANN001
    return copy.deepcopy(next(d.model for d in demo_set.dashboards if d.kind == "water-staff"))


@pytest.mark.parametrize("breakage,fragment", [
    (lambda m: m["panels"][1].update(colour="red"), "not in the models"),
    (lambda m: m["panels"][1]["targets"][0].update(expr="up"), "unknown keys"),
    (lambda m: m["panels"][1]["targets"][0].update(query=" "), "non-empty 'query'"),
    (lambda m: m["panels"][1]["targets"][0].update(resultFormat="logs"), "does not decode"),
    (lambda m: m["panels"][1].update(datasource={"type": "some-plugin", "uid": "p"}), "not a typed InfluxQL"),
    (lambda m: m["templating"]["list"].pop(), "undefined variable $household"),
    (lambda m: m["panels"][2]["gridPos"].update(x=6), "overlaps"),
    (lambda m: m["panels"][2].update(id=m["panels"][1]["id"]), "duplicate id"),
    (lambda m: m.update(uid="x" * 41), "uid"),
    (lambda m: m["panels"][1].update(type="piechart-typo"), "unknown panel type"),
])
def test_the_validator_rejects_broken_dashboards(demo_set, breakage, fragment: str) -> None:  # noqa: ANN001
    model = _staff(demo_set)
    check(model)
    breakage(model)
    with pytest.raises(DashboardInvalid, match=fragment.replace("$", r"\$")):
        check(model)


def test_build_command_writes_dashboards_and_provisioning(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    assert main(["dashboards", "build", "--scenario", "demo", "--out", str(out),
                 "--grafana-path", "/var/lib/grafana/dashboards/shouwang"]) == 0
    printed = capsys.readouterr().out
    assert "sw-demo-community-river" in printed and "provisioning" in printed
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "dashboards/sw-demo-community/sw-demo-community-alerts.json",
        "dashboards/sw-demo-community/sw-demo-community-devices.json",
        "dashboards/sw-demo-community/sw-demo-community-river.json",
        "dashboards/sw-demo-community/sw-demo-community-water-staff.json",
        "dashboards/sw-demo-community/sw-demo-community-water.json",
        "dashboards/sw-system/sw-ingest-health.json",
        "provisioning/dashboards/shouwang.yaml",
        "provisioning/datasources/shouwang.yaml",
    ]
    for f in out.glob("dashboards/*/*.json"):
        model = json.loads(f.read_text(encoding="utf-8"))
        check(model, datasource_uid="shouwang-influxdb")
        assert f.stem == model["uid"]
    ds = yaml.safe_load((out / "provisioning/datasources/shouwang.yaml").read_text(encoding="utf-8"))
    assert ds["apiVersion"] == 1
    [source] = ds["datasources"]
    assert source["uid"] == "shouwang-influxdb" and source["type"] == "influxdb"
    assert source["jsonData"]["dbName"] == "shouwang" and "secureJsonData" not in source  # dev: no auth
    prov = yaml.safe_load((out / "provisioning/dashboards/shouwang.yaml").read_text(encoding="utf-8"))
    assert [(p["folderUid"], p["options"]["path"]) for p in prov["providers"]] == [
        ("sw-demo-community", "/var/lib/grafana/dashboards/shouwang/sw-demo-community"),
        ("sw-system", "/var/lib/grafana/dashboards/shouwang/sw-system")]
    assert all(p["type"] == "file" and p["allowUiUpdates"] is False for p in prov["providers"])


def test_a_rebuild_removes_dashboards_no_longer_built(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["dashboards", "build", "--scenario", "demo", "--out", str(out)]) == 0
    stale = out / "dashboards" / "sw-demo-community" / "sw-demo-community-old-board.json"
    stale.write_text("{}")
    assert main(["dashboards", "build", "--scenario", "demo", "--out", str(out)]) == 0
    assert not stale.exists()
    assert (out / "dashboards" / "sw-demo-community" / "sw-demo-community-river.json").exists()


def test_datasource_secrets_are_environment_references(tmp_path: Path) -> None:
    """Provisioning files never hold a secret: Grafana expands the variables when it reads them."""
    from dashboards.provisioning import datasource, datasource_yaml

    cfg = load_config(env={"SHOUWANG_INFLUX__USERNAME": "grafana", "SHOUWANG_INFLUX__PASSWORD": "s3cret-pw"})
    text = datasource_yaml(cfg)
    assert "s3cret-pw" not in text
    [ds] = yaml.safe_load(text)["datasources"]
    assert ds["user"] == "grafana" and ds["secureJsonData"] == {"password": "${SHOUWANG_INFLUX__PASSWORD}"}
    assert datasource(cfg, "values")["secureJsonData"] == {"password": "s3cret-pw"}
    tok = load_config(env={"SHOUWANG_INFLUX__TOKEN": "tok-123",
                           "SHOUWANG_DASHBOARDS__INFLUX_URL": "http://influx:8086"})
    [ds] = yaml.safe_load(datasource_yaml(tok))["datasources"]
    assert ds["url"] == "http://influx:8086"
    assert ds["jsonData"]["httpHeaderName1"] == "Authorization"
    assert ds["secureJsonData"] == {"httpHeaderValue1": "Token ${SHOUWANG_INFLUX__TOKEN}"}


def test_no_personal_data_reaches_a_dashboard(demo_set) -> None:  # noqa: ANN001
    """Residents' names, addresses and phones live in the registry only (household codes are shown instead)."""
    community = load_scenario("demo")
    personal = set()
    for h in community.households:
        if h.registry:
            personal |= {h.registry.name, h.registry.address, h.registry.phone}
            personal |= {p.name for p in h.registry.contacts} | {p.phone for p in h.registry.contacts}
    assert len(personal) > 20
    assert any(r["record"] == "household" and r["name"] for r in registry_rows(community))  # the registry has them
    text = json.dumps([d.model for d in demo_set.dashboards], ensure_ascii=False)
    leaked = sorted(p for p in personal if p and p in text)
    assert not leaked


def test_build_refuses_an_empty_registry_and_an_unknown_community(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'state_dir = "{tmp_path}"\n')
    assert main(["--config", str(cfg), "dashboards", "build"]) == 2
    assert "registry has no community" in capsys.readouterr().err
    assert main(["dashboards", "build", "--scenario", "demo", "--community", "nowhere", "--out",
                 str(tmp_path / "o")]) == 2
    assert "no community 'nowhere'" in capsys.readouterr().err


def test_cli_build_from_the_registry_store(demo_data: DemoData, tmp_path: Path) -> None:
    """Without --scenario the registry comes from the alert store the config names (here: the one the demo ran on)."""
    out = tmp_path / "o"
    assert main(["--config", str(demo_data.config_file), "dashboards", "build", "--community", "demo-community",
                 "--out", str(out)]) == 0
    written = {p.name for p in out.glob("dashboards/*/*.json")}
    assert written == {d.filename for d in demo_data.dashboards.dashboards if d.folder.community}
    for p in out.glob("dashboards/*/*.json"):
        built = next(d for d in demo_data.dashboards.dashboards if d.filename == p.name)
        assert json.loads(p.read_text(encoding="utf-8")) == built.model
