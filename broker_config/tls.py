"""A pilot certificate authority and server certificate, made with the openssl command.

For a pilot installation the project can create its own CA; production sites may
supply their own certificates instead (broker.ca_file/cert_file/key_file).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ground.errors import ServiceError


def _openssl(*args: str) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise ServiceError("openssl not found: install the Debian package 'openssl'")
    proc = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise ServiceError(f"openssl {args[0]} failed: {proc.stderr.strip()[-400:]}")


def ensure_pilot_ca(tls_dir: Path, hostnames: list[str]) -> tuple[Path, Path, Path]:
    """Create (once) a CA and a server certificate for the given names; returns (ca, cert, key)."""
    tls_dir.mkdir(parents=True, exist_ok=True)
    ca_key, ca_crt = tls_dir / "ca.key", tls_dir / "ca.crt"
    key, csr, crt = tls_dir / "server.key", tls_dir / "server.csr", tls_dir / "server.crt"
    if not ca_crt.exists():
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca_crt),
                 "-days", "3650", "-subj", "/O=Shouwang pilot/CN=Shouwang pilot CA")
        ca_key.chmod(0o600)
    if not crt.exists():
        sans = ",".join(f"IP:{h}" if h.replace(".", "").isdigit() else f"DNS:{h}" for h in hostnames)
        ext = tls_dir / "server.ext"
        ext.write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
                 "-subj", f"/O=Shouwang pilot/CN={hostnames[0]}")
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
                 "-out", str(crt), "-days", "825", "-extfile", str(ext))
        key.chmod(0o600)
    return ca_crt, crt, key
