"""`shouwang api user add|list|lock` as an operator runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from registry.csvio import import_rows
from shouwang.config import load_config
from storage.sql import Database
from tests.conftest import write_config
from tests.notify.fixtures import registry_csv


def run(cfg_file: Path, *args: str, stdin: str = "", lang: str = "en_US.UTF-8") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHOUWANG_", "LC_", "LANG"))}
    env["LANG"] = lang
    return subprocess.run([sys.executable, "-m", "shouwang", "--config", str(cfg_file), "api", "user", *args],
                          input=stdin, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_user_add_list_lock(tmp_path: Path) -> None:
    cfg_file = write_config(tmp_path / "c.toml", tmp_path / "state")
    assert run(cfg_file, "list").stdout == "no accounts yet (create one: shouwang api user add)\n"
    with Database.from_config(load_config(cfg_file, env={})) as db:
        assert import_rows(db, registry_csv(9, 9)).errors == []
    ok = run(cfg_file, "add", "wang", "--role", "grid_worker", "--scope", "gr-01,gr-02", "--password-stdin",
             "--name", "王芳", stdin="a long password\n")
    assert ok.returncode == 0 and "user wang: grid_worker of gr-01, gr-02" in ok.stdout
    bad = run(cfg_file, "add", "li", "--role", "grid_worker", "--scope", "hh-0001", "--password-stdin",
              stdin="a long password\n")
    assert bad.returncode == 2 and "a grid_worker is scoped to a grid, and hh-0001 is a household" in bad.stderr
    short = run(cfg_file, "add", "li", "--role", "family", "--scope", "hh-0001", "--contact", "c-fam1",
                "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    listed = run(cfg_file, "list")
    assert listed.stderr == "" and listed.stdout.splitlines() == [
        "id  username  role         scopes       name  state",
        "1   wang      grid_worker  gr-01,gr-02  王芳  active",
        "1 account"]
    locked = run(cfg_file, "lock", "wang")
    assert locked.returncode == 0
    assert run(cfg_file, "list", lang="zh_CN.UTF-8").stdout.splitlines() == [
        "编号  用户名  角色         范围         姓名  状态",
        "1     wang    grid_worker  gr-01,gr-02  王芳  已锁定",
        "共 1 个账号"]
    assert run(cfg_file, "lock", "nobody").returncode == 2
