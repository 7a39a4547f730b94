"""Fixtures of the alerts tests: a private PostgreSQL cluster, databases, a sample registry."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shouwang.procs import free_port
from storage.sql import Database

SAMPLE_CSV = """record,code,parent,name,flags,sleep,window_h,away_until,gateway,kind,interval_s,step_l,warning_m,guaranteed_m,rise_m_per_h,schedule,types,role,channels,language,quiet_hours
street,st-01,,Qianjin Street,,,,,,,,,,,,,,,,,
community,cm-01,st-01,Riverside Community,,,,,,,,,,,,,,,,,
grid,gr-01,cm-01,Grid 1,,,,,,,,,,,,,,,,,
grid,gr-02,cm-01,Grid 2,,,,,,,,,,,,,,,,,
building,bd-01,gr-01,Building 3,,,,,,,,,,,,,,,,,
household,hh-0001,bd-01,Room 301,solitary_elderly,22:00-06:30,7,,,,,,,,,,,,,,
household,hh-0002,bd-01,Room 302,solitary_elderly;disabled,21:30-06:00,6,,,,,,,,,,,,,,
station,rs-01,cm-01,Qing River gauge,,,,,,,,,3.5,4.5,0.3,,,,,,
zone,zn-emb,gr-02,Embankment,,,,,,,,,,,,22:00-06:00,intrusion;person,,,,
device,wm-0001,hh-0001,,,,,,gw-a,water_meter,60,1,,,,,,,,,
device,wm-0002,hh-0002,,,,,,gw-a,water_meter,60,1,,,,,,,,,
device,btn-0001,hh-0001,,,,,,gw-a,call_button,3600,,,,,,,,,,
device,rg-01,rs-01,,,,,,gw-b,river_gauge,300,,,,,,,,,,
device,cam-01,zn-emb,,,,,,gw-b,camera,600,,,,,,,,,,
device,cam-02,zn-emb,,,,,,gw-b,camera,600,,,,,,,,,,
contact,c-gw1,gr-01,Wang Fang,,,,,,,,,,,,,,grid_worker,wecombot://key1,zh,
contact,c-gw2,gr-02,Li Lei,,,,,,,,,,,,,,grid_worker,mailto://li@example.org,en,23:00-07:00
contact,c-cm,cm-01,Zhao Min,,,,,,,,,,,,,,community_duty,dingtalk://token,zh,
contact,c-st,st-01,Sun Qiang,,,,,,,,,,,,,,street_duty,json://127.0.0.1:9/x,zh,
contact,c-fam1,hh-0001,Chen Jie,,,,,,,,,,,,,,family,ntfy://chen-topic,zh,
"""


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster in a temp dir on a free port (as `postgres` when we are root)."""

    def __init__(self) -> None:
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server binaries not found: install the Debian package 'postgresql' "
                               "(scripts/setup.sh does)")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="sw-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)

    def _run(self, *argv: str) -> None:
        cmd = list(argv)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, cwd=self.dir)
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {proc.stderr.strip()[-800:]}")

    def start(self) -> PostgresCluster:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", self.user, "--auth=trust",
                  "-E", "UTF8", "--locale=C", "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off")
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "pg.log"), "-o", opts,
                  "-w", "-t", "60", "start")
        return self

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{db}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A freshly migrated store on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'alerts.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    database = Database(url)
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'alerts.db'}")
    try:
        yield database
    finally:
        database.close()


def wait_until(pred, timeout: float = 10.0):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
