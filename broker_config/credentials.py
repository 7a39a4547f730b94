"""Per-gateway and service credentials, hashed into Mosquitto's password files by mosquitto_passwd.

A gateway's username is its id, so the ACL pattern sw/v1/%u/# confines it to its own
prefix; gateways live in `passwd`, service accounts (svc_..., never a gateway id: ids have
no underscore) in `passwd-services`, each file used by its own listener. The plaintext password of a gateway is written once to a 0600 file for
provisioning that gateway; the broker keeps only the hash.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from ground.errors import ConfigError, ServiceError
from wire import validate_id


def _passwd_tool() -> str:
    tool = shutil.which("mosquitto_passwd")
    if tool is None:
        raise ServiceError("mosquitto_passwd not found: install the Debian package 'mosquitto'")
    return tool


def ensure_user(passwd_file: Path, username: str, password: str) -> None:
    """Add or update a user in the password file (hashed by mosquitto_passwd)."""
    if not password:
        raise ConfigError(f"empty password for {username}")
    passwd_file.parent.mkdir(parents=True, exist_ok=True)
    if not passwd_file.exists():
        passwd_file.touch(mode=0o600)
    os.chmod(passwd_file, 0o600)
    proc = subprocess.run([_passwd_tool(), "-b", str(passwd_file), username, password],
                          capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0:
        raise ServiceError(f"mosquitto_passwd failed for {username}: {proc.stderr.strip() or proc.stdout.strip()}")


def ensure_users(passwd_file: Path, users: dict[str, str]) -> None:
    """Add or update several users (the service accounts) in one password file."""
    for username, password in users.items():
        ensure_user(passwd_file, username, password)


def gateway_credentials_path(broker_dir: Path, gateway: str) -> Path:
    return broker_dir / "gateways" / f"{gateway}.toml"


def add_gateway(broker_dir: Path, gateway: str, *, password: str | None = None,
                rotate: bool = False) -> tuple[Path, str]:
    """Create credentials for a gateway; returns (credentials file, password).

    An existing gateway keeps its password unless rotate=True.
    """
    validate_id(gateway, "gateway")
    cred = gateway_credentials_path(broker_dir, gateway)
    if cred.exists() and not rotate and password is None:
        for line in cred.read_text().splitlines():
            if line.startswith("password = "):
                return cred, line.split("=", 1)[1].strip().strip('"')
    password = password or secrets.token_urlsafe(18)
    ensure_user(broker_dir / "passwd", gateway, password)
    cred.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(cred, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f'# MQTT credentials of gateway {gateway}; copy into its agent.toml [mqtt] section\n'
                 f'username = "{gateway}"\npassword = "{password}"\n')
    return cred, password
