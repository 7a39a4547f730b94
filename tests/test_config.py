"""Config: TOML plus SHOUWANG_ overrides, unknown keys named, default secrets refused in prod."""

from __future__ import annotations

from pathlib import Path

import pytest

from shouwang.config import load_config
from ground.errors import ConfigError


def test_defaults_are_safe_for_a_laptop() -> None:
    cfg = load_config(env={})
    assert cfg.mode == "dev"
    assert cfg.broker.host == "127.0.0.1"
    assert cfg.broker.port != 1883  # a system mosquitto may hold 1883
    assert cfg.broker.max_queued_messages == 900 * 5000 * 1.2


def test_file_and_environment_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[broker]\nport = 2000\n[ingest]\nbatch_size = 10\n')
    cfg = load_config(f, env={"SHOUWANG_INGEST__BATCH_SIZE": "20", "SHOUWANG_INFLUX__DATABASE": "x"})
    assert (cfg.broker.port, cfg.ingest.batch_size, cfg.influx.database) == (2000, 20, "x")


def test_config_file_from_environment(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('mode = "dev"\n[influx]\nport = 3000\n')
    assert load_config(env={"SHOUWANG_CONFIG": str(f)}).influx.port == 3000


@pytest.mark.parametrize("text,fragment", [
    ("[broker]\nprot = 1\n", "broker.prot: unknown key"),
    ("colour = 1\n", "colour: unknown key"),
    ("[ingest]\nbatch_size = 'many'\n", "ingest.batch_size"),
    ("[broker]\nurl = 'http://x'\n", "broker.url"),
    ("[broker\n", "line 1"),
])
def test_bad_files_name_the_key(tmp_path: Path, text: str, fragment: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(f, env={})
    assert fragment in str(exc.value)
    assert str(f) in str(exc.value)


def test_unknown_environment_key_is_named() -> None:
    with pytest.raises(ConfigError, match="SHOUWANG_INGEST__BATCHSIZE: unknown key 'ingest.batchsize'"):
        load_config(env={"SHOUWANG_INGEST__BATCHSIZE": "3"})


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml", env={})


def test_prod_refuses_default_secrets() -> None:
    with pytest.raises(ConfigError, match="broker.service_password"):
        load_config(env={"SHOUWANG_MODE": "prod"})
    with pytest.raises(ConfigError, match="api.secret_key"):
        load_config(env={"SHOUWANG_MODE": "prod", "SHOUWANG_BROKER__SERVICE_PASSWORD": "s3cret-long-one"})
    with pytest.raises(ConfigError, match="api.secret_key"):
        load_config(env={"SHOUWANG_MODE": "prod", "SHOUWANG_BROKER__SERVICE_PASSWORD": "s3cret-long-one",
                         "SHOUWANG_API__SECRET_KEY": "too-short"})
    cfg = load_config(env={"SHOUWANG_MODE": "prod", "SHOUWANG_BROKER__SERVICE_PASSWORD": "s3cret-long-one",
                           "SHOUWANG_API__SECRET_KEY": "k" * 40})
    assert cfg.mode == "prod"
    with pytest.raises(ConfigError, match="influx.password"):
        load_config(env={"SHOUWANG_MODE": "prod", "SHOUWANG_BROKER__SERVICE_PASSWORD": "s3cret-long-one",
                         "SHOUWANG_INFLUX__USERNAME": "admin", "SHOUWANG_API__SECRET_KEY": "k" * 40})


def test_a_removed_key_says_what_to_do_instead(tmp_path: Path) -> None:
    """ingest.max_future_skew_s was ingest's own; the bound is now the wire contract's, shared with the engine."""
    f = tmp_path / "c.toml"
    f.write_text("[ingest]\nbatch_size = 10\nmax_future_skew_s = 600\n")
    with pytest.raises(ConfigError, match=r"c\.toml: ingest\.max_future_skew_s: removed: .*wire contract"):
        load_config(f, env={})
    with pytest.raises(ConfigError, match=r"SHOUWANG_INGEST__MAX_FUTURE_SKEW_S: ingest\.max_future_skew_s: removed"):
        load_config(env={"SHOUWANG_INGEST__MAX_FUTURE_SKEW_S": "600"})
