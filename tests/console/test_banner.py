"""The red banner: staff see at once, on every page, that a service of the alert path has stopped working.

A real `shouwang api` on a fresh state directory, a real Chromium at phone size; the services' beat files
(ground/heartbeat.py) are written by the test as the services write them.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from console.auth import create_user
from console.scope import UserRole
from registry.csvio import import_rows
from registry.model import load_snapshot
from shouwang.config import load_config
from shouwang.procs import ChildProcess, free_port, port_open
from storage.sql import Database
from tests.conftest import write_config
from tests.console.conftest import PASSWORD, PHONE, login, shot
from tests.notify.fixtures import registry_csv


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("banner")
    port = free_port()
    cfg_file = write_config(tmp / "c.toml", tmp / "state", api={"port": port, "follow_mqtt": False},
                            alerts={"write_influx": False, "publish_mqtt": False},
                            watchdog={"stale_after_s": 60, "services": ["ingest", "alerts", "api"]})
    cfg = load_config(cfg_file, env={})
    with Database.from_config(cfg) as db:
        assert import_rows(db, registry_csv(9, 9)).errors == []
        reg = load_snapshot(db)
        create_user(db, reg, "staff", PASSWORD, UserRole.COMMUNITY_STAFF, ["cm-01"], now=0)
        create_user(db, reg, "fam1", PASSWORD, UserRole.FAMILY, ["hh-0001"], contact="c-fam1", now=0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHOUWANG_")} | {"SHOUWANG_CONFIG": str(cfg_file)}
    child = ChildProcess("api", [sys.executable, "-m", "shouwang", "api"], tmp / "api.log",
                         ready=lambda: port_open("127.0.0.1", port), env=env)
    child.start(timeout=60)
    try:
        yield f"http://127.0.0.1:{port}", cfg.state_path
    finally:
        child.stop()


def _beat(state: Path, service: str, age_s: float) -> None:
    now = time.time_ns() // 1_000_000
    (state / "run" / f"{service}.json").write_text(json.dumps(
        {"service": service, "pid": os.getpid(), "started_at_ms": now - 3_600_000,
         "beat_at_ms": now - int(age_s * 1000), "progress": {}}))


def _page(browser, api, user: str, lang: str = "zh"):  # noqa: ANN001, ANN202
    ctx = browser.new_context(viewport=PHONE)
    page = ctx.new_page()
    login(page, api[0], user, f"?lang={lang}")
    return ctx, page


def test_banner_names_what_stopped_and_goes_when_it_works(browser, api) -> None:  # noqa: ANN001
    url, state = api
    ctx, page = _page(browser, api, "staff")
    try:
        banner = page.locator("#fault")
        assert banner.is_visible()  # neither ingest nor the engine has ever beaten here
        text = banner.inner_text()
        assert "数据接收服务（ingest）没有在运行" in text and "告警引擎没有在运行" in text
        assert "管理后台" not in text  # the API beats: it is the one answering
        shot(page, "zh-banner-phone")
        _beat(state, "ingest", 1)
        _beat(state, "alerts", 1)
        page.goto(f"{url}/devices")
        assert page.locator("#fault").is_hidden()
        _beat(state, "alerts", 300)  # the engine stopped beating five minutes ago: hung or paused
        page.goto(url + "/")
        text = page.locator("#fault").inner_text()
        assert "告警引擎已停止工作（卡住或被暂停）" in text and "ingest" not in text
        assert "shouwang status" in text
        box = page.locator("#fault").bounding_box()
        assert box is not None and box["width"] <= PHONE["width"]  # wraps on a phone, never off-screen
    finally:
        ctx.close()


def test_banner_in_english_and_never_for_family(browser, api) -> None:  # noqa: ANN001
    url, state = api
    _beat(state, "ingest", 1)
    _beat(state, "alerts", 300)
    ctx, page = _page(browser, api, "staff", "en")
    try:
        assert "The alerts engine has stopped working (hung or paused)" in page.locator("#fault").inner_text()
    finally:
        ctx.close()
    ctx, page = _page(browser, api, "fam1")
    try:
        assert page.url.endswith("/family")
        assert page.locator("#fault").is_hidden()
    finally:
        ctx.close()
