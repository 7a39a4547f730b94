"""`shouwang backup DIR` and `shouwang restore DIR`: everything a community's installation cannot rebuild.

A backup directory holds:

    manifest.json      what is inside, row and point counts, and a SHA-256 of every file
    store.sqlite3      the SQL database (registry, alerts, audit, deliveries, accounts) -- SQLite online
    or store.pgdump    backup API, or `pg_dump --format=custom` for PostgreSQL
    influxdb/          `influxd backup -portable` of the readings database
    broker/            the broker's generated config, ACLs, password files, gateway credentials, TLS files
    config.toml        the config file the installation runs with (secrets: the directory is mode 0700)

Both stores are read while the services run: SQLite's backup API and `influxd backup` each copy a
consistent snapshot (taken one after the other, so readings may run a few seconds past the store).
Restore expects the services stopped, refuses to overwrite a store or database that already holds data
unless `--force`, and ends by recounting and comparing with the manifest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from ground.errors import ConfigError, InfluxRejected, ServiceError, ShouwangError
from shouwang.config import Config
from shouwang.procs import ChildProcess, port_open
from storage.influx import InfluxClient
from storage.sql import current_revision, database_url, make_engine

log = logging.getLogger(__name__)
FORMAT = 1
MANIFEST = "manifest.json"
# broker files that are state of the moment, not configuration: never copied
_BROKER_SKIP = {"mosquitto.log", "mosquitto.pid", "mosquitto.db"}


class BackupError(ShouwangError):
    """A backup could not be made, or a directory is not a complete, intact backup."""


@dataclass
class Counts:
    """What a store holds: rows per SQL table and points per InfluxDB measurement."""

    rows: dict[str, int] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)


# --- counting -------------------------------------------------------------------------------------


def sql_counts(url: str) -> dict[str, int]:
    """Rows per table of the SQL database (Alembic's own table excluded)."""
    engine = make_engine(url)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as conn:
            return {name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
                    for name, table in sorted(meta.tables.items()) if name != "alembic_version"}
    finally:
        engine.dispose()


def influx_counts(cfg: Config) -> dict[str, int]:
    """Points per measurement of the readings database (a point counts once, whatever its fields)."""
    with InfluxClient(cfg.influx) as client:
        names = [r["name"] for r in client.rows("SHOW MEASUREMENTS")]
        out: dict[str, int] = {}
        for name in names:
            rows = client.rows(f'SELECT count(*) FROM "{name}"')
            out[name] = max((int(v) for r in rows for k, v in r.items() if k.startswith("count_") and v), default=0)
        return out


def _counts_once_loaded(cfg: Config, timeout_s: float = 120.0) -> dict[str, int]:
    """influx_counts right after `influxd restore`: its shards answer "shard is disabled" until they are loaded."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return influx_counts(cfg)
        except InfluxRejected as exc:
            if "shard is disabled" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _database_exists(cfg: Config) -> bool:
    with InfluxClient(cfg.influx) as client:
        return any(r["name"] == cfg.influx.database for r in client.rows("SHOW DATABASES", db=""))


# --- InfluxDB: launched here if the config launches it and it is not running -------------------


def _rpc_address(cfg: Config) -> str:
    if cfg.influx.url and not cfg.influx.rpc_address:
        raise ConfigError("influx.rpc_address: an external InfluxDB is backed up through its RPC port "
                          "(influxd's bind-address, e.g. 127.0.0.1:8088); set it in the config")
    return cfg.influx.rpc_address or f"{cfg.influx.host}:{cfg.influx.port + 1}"


class _Influxd:
    """The configured influxd, started for the duration of a backup or restore if nothing answers."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.child: ChildProcess | None = None

    def __enter__(self) -> _Influxd:
        with InfluxClient(self.cfg.influx) as client:
            if client.ping():
                return self
        if self.cfg.influx.url:
            raise ServiceError(f"InfluxDB {self.cfg.influx.url} does not answer /ping")
        from shouwang.services import influxd_process

        self.child = influxd_process(self.cfg)
        self.child.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.child is not None:
            self.child.stop()


def _influxd_tool(*argv: str) -> None:
    binary = shutil.which("influxd") or "/usr/bin/influxd"
    proc = subprocess.run([binary, *argv], capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        raise BackupError(f"influxd {argv[0]} failed: {(proc.stderr or proc.stdout).strip()[-600:]}")


# --- SQL ---------------------------------------------------------------------------------------------


def _pg_env(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq connection arguments for pg_dump/pg_restore (the password through the environment, not argv)."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    args = ["--dbname", u.database or "postgres"]
    if u.host:
        args += ["--host", u.host]
    if u.port:
        args += ["--port", str(u.port)]
    if u.username:
        args += ["--username", u.username]
    return args, env


def _pg_tool(binary: str, *argv: str, url: str) -> None:
    conn, env = _pg_env(url)
    path = shutil.which(binary)
    if path is None:
        raise ServiceError(f"{binary} not found: install the Debian package 'postgresql-client'")
    proc = subprocess.run([path, *argv, *conn], capture_output=True, text=True, env=env, timeout=3600, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{binary} failed: {proc.stderr.strip()[-600:]}")


def _sqlite_path(url: str) -> Path:
    return Path(make_url(url).database or "")


def _sqlite_copy(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite database that may be in use (the online backup API)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{src}?mode=ro", uri=True) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()


# --- files ---------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _sha256(p) for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != MANIFEST}


# --- backup --------------------------------------------------------------------------------------


def backup(cfg: Config, dest: Path, config_file: Path | None = None) -> dict[str, Any]:
    """Write a backup of this installation into dest (new or empty); return its manifest."""
    dest = Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: give a new directory for each backup")
    dest.mkdir(parents=True, exist_ok=True)
    dest.chmod(0o700)
    url = database_url(cfg)
    kind = make_url(url).get_backend_name()
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}

    engine = make_engine(url)
    try:
        manifest["schema_revision"] = current_revision(engine)
    finally:
        engine.dispose()
    if kind == "sqlite":
        _sqlite_copy(_sqlite_path(url), dest / "store.sqlite3")
        manifest["sql"] = {"kind": "sqlite", "file": "store.sqlite3",
                           "rows": sql_counts(f"sqlite:///{dest / 'store.sqlite3'}")}
    elif kind == "postgresql":
        manifest["sql"] = {"kind": "postgresql", "file": "store.pgdump", "rows": sql_counts(url)}
        _pg_tool("pg_dump", "--format=custom", "--no-owner", "--file", str(dest / "store.pgdump"), url=url)
    else:
        raise BackupError(f"alerts.database_url: cannot back up a {kind} database")

    with _Influxd(cfg):
        points = influx_counts(cfg) if _database_exists(cfg) else {}
        _influxd_tool("backup", "-portable", "-host", _rpc_address(cfg), "-db", cfg.influx.database,
                      str(dest / "influxdb"))
    manifest["influx"] = {"dir": "influxdb", "database": cfg.influx.database, "points": points}

    broker = cfg.state_path / "broker"
    if broker.is_dir():
        shutil.copytree(broker, dest / "broker", ignore=lambda d, names: [n for n in names if n in _BROKER_SKIP])
    if config_file is not None and Path(config_file).is_file():
        shutil.copy2(config_file, dest / "config.toml")
    manifest["files"] = _hashes(dest)
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    for p in dest.rglob("*"):
        p.chmod(0o700 if p.is_dir() else 0o600)
    return manifest


# --- restore -------------------------------------------------------------------------------------


def read_manifest(src: Path) -> dict[str, Any]:
    """The manifest of a backup directory, after checking that every file it lists is there and intact."""
    path = Path(src) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{src}: no {MANIFEST}: not a shouwang backup (or an interrupted one)") from None
    except json.JSONDecodeError as exc:
        raise BackupError(f"{path}: not valid JSON ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: backup format {manifest.get('format')!r}, this version reads {FORMAT}")
    have = _hashes(Path(src))
    for name, digest in manifest.get("files", {}).items():
        if name not in have:
            raise BackupError(f"{src}: {name} is missing")
        if have[name] != digest:
            raise BackupError(f"{src}: {name} does not match its checksum (damaged or edited)")
    return manifest


@dataclass
class RestoreReport:
    """Counts the manifest promised next to what the restored installation holds."""

    expected: Counts
    found: Counts

    @property
    def mismatches(self) -> list[str]:
        out = []
        for what, exp, got in (("rows", self.expected.rows, self.found.rows),
                               ("points", self.expected.points, self.found.points)):
            for name in sorted(set(exp) | set(got)):
                if exp.get(name, 0) != got.get(name, 0):
                    out.append(f"{name}: {what} {got.get(name, 0)}, backup has {exp.get(name, 0)}")
        return out


def restore(cfg: Config, src: Path, *, force: bool = False) -> RestoreReport:
    """Bring a backup back into this installation (services stopped); raise if it would overwrite data."""
    src = Path(src)
    manifest = read_manifest(src)
    url = database_url(cfg)
    kind = make_url(url).get_backend_name()
    sql = manifest["sql"]
    if sql["kind"] != kind:
        raise BackupError(f"the backup holds a {sql['kind']} store; this installation uses {kind} "
                          "(restore into the same kind, then migrate)")
    existing = _sql_rows_if_any(url)
    if existing and not force:
        raise BackupError(f"the store at {make_url(url).render_as_string(hide_password=True)} already holds "
                          f"{existing} rows: refusing to overwrite (stop the services; --force replaces it)")
    if kind == "sqlite":
        target = _sqlite_path(url)
        _sqlite_copy(src / sql["file"], target)
    else:
        _pg_tool("pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction", str(src / sql["file"]),
                 url=url)

    influx = manifest["influx"]
    with _Influxd(cfg):
        if _database_exists(cfg):
            if any(influx_counts(cfg).values()) and not force:
                raise BackupError(f"InfluxDB database {cfg.influx.database} already holds readings: refusing to "
                                  "overwrite (--force drops it first)")
            with InfluxClient(cfg.influx) as client:
                client.query(f'DROP DATABASE "{cfg.influx.database}"', db="")
        _influxd_tool("restore", "-portable", "-host", _rpc_address(cfg), "-db", influx["database"],
                      "-newdb", cfg.influx.database, str(src / influx["dir"]))
        points = _counts_once_loaded(cfg)

    if (src / "broker").is_dir():
        broker = cfg.state_path / "broker"
        broker.mkdir(parents=True, exist_ok=True)
        shutil.copytree(src / "broker", broker, dirs_exist_ok=True)
    return RestoreReport(Counts(sql["rows"], influx["points"]), Counts(sql_counts(url), points))


def _sql_rows_if_any(url: str) -> int:
    if make_url(url).get_backend_name() == "sqlite" and not _sqlite_path(url).exists():
        return 0
    try:
        counts = sql_counts(url)
    except SQLAlchemyError as exc:
        raise BackupError(f"cannot read the store before restoring: {exc}") from exc
    return sum(counts.values())

