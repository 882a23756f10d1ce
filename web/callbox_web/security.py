"""Security plumbing: the session secret, response headers, the box's self-signed TLS certificate.

Why a self-signed certificate: the box lives on a clinic LAN with no public name, so no public CA can
issue for it. It is generated once at first start, kept in ``<data>/web/``, and its SHA-256
fingerprint is shown on the system page and by ``callbox web fingerprint`` so staff can compare it
with what the browser shows the first time.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flask import Flask, Response
from flask_wtf.csrf import CSRFProtect

CERT_NAME = "tls-cert.pem"
KEY_NAME = "tls-key.pem"
SECRET_NAME = "secret_key"

csrf = CSRFProtect()

# No inline script or style anywhere: templates use classes, SVG presentation attributes and
# static/panel.js only. media-src 'self' lets the recording player load audio from the panel.
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_secret_key(web_dir: Path) -> str:
    """The key that signs session cookies; created once so sessions survive a panel restart."""
    path = Path(web_dir) / SECRET_NAME
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    key = secrets.token_hex(32)
    _write_private(path, key.encode("ascii"))
    return key


def add_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if response.mimetype == "text/html" or response.mimetype == "audio/wav":
        response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.after_request(add_headers)

    @app.after_request
    def hsts(response: Response) -> Response:
        if app.config.get("TLS"):
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response


# ------------------------------------------------------------------------------------------ TLS
def _names() -> tuple[list[str], list[ipaddress._BaseAddress]]:
    hostname = socket.gethostname() or "callbox"
    names = sorted({hostname, f"{hostname}.local", "callbox.local", "localhost"})
    ips: list[ipaddress._BaseAddress] = [ipaddress.ip_address("127.0.0.1")]
    try:
        for info in socket.getaddrinfo(hostname, None):
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
            if ip not in ips:
                ips.append(ip)
    except (OSError, ValueError):
        pass
    return names, ips


def ensure_certificate(web_dir: Path, now: datetime | None = None) -> tuple[Path, Path]:
    """Create the box's key and self-signed certificate if missing; return (cert, key) paths."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    web_dir = Path(web_dir)
    web_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert_path, key_path = web_dir / CERT_NAME, web_dir / KEY_NAME
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    now = now or datetime.now(timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    names, ips = _names()
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "callbox")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=3650))  # the box runs for years without a technician
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names] + [x509.IPAddress(ip) for ip in ips]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(
        key_path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def fingerprint(web_dir: Path) -> str | None:
    """SHA-256 fingerprint of the box certificate as browsers show it (AA:BB:...), or None if none yet."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    path = Path(web_dir) / CERT_NAME
    if not path.exists():
        return None
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
