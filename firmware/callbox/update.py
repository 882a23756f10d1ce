"""Offline firmware updates: signed bundles, versioned install, atomic switch, automatic rollback.

Why: boxes sit in clinics without remote access; a technician brings an update on a USB stick. The box
must (a) install only what the vendor signed, (b) never be left half-updated by a power cut, and (c) come
back on the old version by itself when the new one does not start.

* A bundle is ``b"CBUPDATE1\\n"``, 4-byte big-endian header length, header JSON (version, payload size
  and SHA-256), a 64-byte Ed25519 signature over everything before it, then the payload: a gzip'd tar of
  one release directory (the venv built at ``/opt/callbox/releases/<version>/venv`` on the build machine,
  so its paths are right when unpacked here).
* Install = unpack into ``<root>/releases/.<version>.partial``, rename to ``releases/<version>``, then
  point ``<root>/current`` at it by renaming a new symlink over the old one (atomic on POSIX). A power
  cut at any moment leaves ``current`` on either the old or the new release.
* After the switch a health-check command runs (by default the new ``callbox --version``; on a box,
  restart the services and ask systemd whether they are up). If it fails, ``current`` goes back.
* Older versions are refused unless asked for (a replayed old bundle could bring back fixed bugs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MAGIC = b"CBUPDATE1\n"
SIG_LEN = 64
DEFAULT_ROOT = Path("/opt/callbox")
DEFAULT_PUBLIC_KEY = Path("/etc/callbox/update-signing.pub")
DEFAULT_HEALTH = "{release}/venv/bin/callbox --version"
KEEP_RELEASES = 3
VERSION = re.compile(r"^\d+\.\d+\.\d+(?:[.+-][0-9A-Za-z.]+)?$")
_MAX_HEADER = 64 * 1024


class UpdateError(Exception):
    """The update was refused or failed; the message names the fix. The box stays on its old version."""


# -- keys ---------------------------------------------------------------------------------------------
def load_public_key(path: Path) -> Ed25519PublicKey:
    """PEM, 32 raw bytes, or their base64 text."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise UpdateError(f"no vendor update key at {path}; the SD image installs it (or pass --public-key)") from None
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_public_key(raw)
        else:
            if len(raw) != 32:
                raw = base64.b64decode(raw.strip(), validate=True)
            key = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as exc:
        raise UpdateError(f"{path} is not an Ed25519 public key ({exc})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise UpdateError(f"{path} is not an Ed25519 public key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (FileNotFoundError, ValueError, TypeError) as exc:
        raise UpdateError(f"cannot read the signing key {path} ({exc}); use a PEM Ed25519 key "
                          "(`callbox update keygen`)") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UpdateError(f"{path} is not an Ed25519 private key")
    return key


def keygen(private_out: Path, public_out: Path) -> None:
    """A new vendor signing key pair (the private half stays on the build machine, offline)."""
    key = Ed25519PrivateKey.generate()
    fd = os.open(private_out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    Path(public_out).write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                               serialization.PublicFormat.SubjectPublicKeyInfo))


# -- versions ----------------------------------------------------------------------------------------
def version_key(version: str) -> tuple:
    main = re.match(r"^(\d+)\.(\d+)\.(\d+)", version)
    if not main:
        return (0, 0, 0, version)
    return (*(int(x) for x in main.groups()), version[main.end():])


# -- make ---------------------------------------------------------------------------------------------
def make_bundle(release_dir: Path, version: str, private_key: Path, out: Path) -> dict:
    """Pack ``release_dir`` (its contents become ``releases/<version>/``) into a signed bundle."""
    if not VERSION.match(version):
        raise UpdateError(f"version {version!r} is not like 1.4.2; use MAJOR.MINOR.PATCH")
    release_dir = Path(release_dir)
    if not release_dir.is_dir():
        raise UpdateError(f"{release_dir} is not a directory")
    key = load_private_key(private_key)
    out = Path(out)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        payload = Path(scratch) / "payload.tar.gz"
        with tarfile.open(payload, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
            for child in sorted(release_dir.iterdir()):
                tar.add(child, arcname=child.name)
        digest = hashlib.sha256()
        with open(payload, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        header = {"format": 1, "version": version, "made_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "payload_bytes": payload.stat().st_size, "payload_sha256": digest.hexdigest()}
        hbytes = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
        signed = MAGIC + struct.pack(">I", len(hbytes)) + hbytes
        tmp = out.with_name(f".{out.name}.partial")
        with open(tmp, "wb") as dst, open(payload, "rb") as src:
            dst.write(signed + key.sign(signed))
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, out)
    return header


# -- verify ------------------------------------------------------------------------------------------
def read_header(fh: BinaryIO, public_key: Ed25519PublicKey) -> dict:
    """Read and verify the signed header; ``fh`` is left at the start of the payload."""
    if fh.read(len(MAGIC)) != MAGIC:
        raise UpdateError("this file is not a callbox update bundle; copy the .cbupdate file the vendor sent")
    raw_len = fh.read(4)
    if len(raw_len) != 4 or struct.unpack(">I", raw_len)[0] > _MAX_HEADER:
        raise UpdateError("the update bundle is damaged (header); copy it again")
    hbytes = fh.read(struct.unpack(">I", raw_len)[0])
    signature = fh.read(SIG_LEN)
    try:
        public_key.verify(signature, MAGIC + raw_len + hbytes)
    except InvalidSignature:
        raise UpdateError("the update bundle's signature does not verify against the vendor key: it was changed "
                          "after signing or is not from the vendor. Nothing was installed") from None
    header = json.loads(hbytes)
    if header.get("format") != 1 or not VERSION.match(str(header.get("version", ""))):
        raise UpdateError("the update bundle has an unknown format; this firmware is too old to install it")
    return header


def _copy_verified(fh: BinaryIO, header: dict, dest: Path) -> None:
    """Copy the payload to ``dest`` while hashing it: what we unpack is exactly what we checked."""
    digest, left = hashlib.sha256(), int(header["payload_bytes"])
    with open(dest, "wb") as out:
        while left > 0:
            block = fh.read(min(left, 1 << 20))
            if not block:
                raise UpdateError("the update bundle is truncated; copy it again")
            digest.update(block)
            out.write(block)
            left -= len(block)
    if fh.read(1):
        raise UpdateError("the update bundle has extra data after its payload; copy it again")
    if digest.hexdigest() != header["payload_sha256"]:
        raise UpdateError("the update bundle's contents do not match its signed checksum; copy it again")


# -- apply --------------------------------------------------------------------------------------------
@dataclass
class ApplyReport:
    version: str
    previous: str | None
    installed: bool = False
    rolled_back: bool = False
    health_output: str = ""
    notes: list[str] = field(default_factory=list)


def current_version(root: Path) -> str | None:
    link = Path(root) / "current"
    return Path(os.readlink(link)).name if link.is_symlink() else None


def switch(root: Path, version: str | None) -> None:
    """Point ``current`` at ``releases/<version>`` (or remove it for None) with one atomic rename."""
    link = Path(root) / "current"
    if version is None:
        link.unlink(missing_ok=True)
        return
    tmp = Path(root) / ".current.new"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(Path("releases") / version)
    os.replace(tmp, link)
    fd = os.open(root, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def run_health(command: str, root: Path, release: Path, timeout: float = 300) -> tuple[bool, str]:
    argv = [part.format(root=root, release=release) for part in shlex.split(command)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    return done.returncode == 0, (done.stdout + done.stderr).strip()[-2000:]


def apply_bundle(
    bundle: Path,
    public_key: Path = DEFAULT_PUBLIC_KEY,
    root: Path = DEFAULT_ROOT,
    health: str = DEFAULT_HEALTH,
    allow_downgrade: bool = False,
    health_runner: Callable[[str, Path, Path], tuple[bool, str]] = run_health,
    after_rollback: str | None = None,
) -> ApplyReport:
    """Install ``bundle``. ``health`` runs after the switch (on a box: restart the services, which fails
    when the new daemon does not reach READY); ``after_rollback`` runs after switching back (restart the
    services again so they run the old release)."""
    root = Path(root)
    releases = root / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    key = load_public_key(public_key)
    previous = current_version(root)
    try:
        fh = open(bundle, "rb")
    except FileNotFoundError:
        raise UpdateError(f"{bundle}: no such file") from None
    with fh:
        header = read_header(fh, key)
        version = header["version"]
        report = ApplyReport(version, previous)
        if previous == version:
            report.notes.append(f"version {version} is already the running release; nothing to do")
            return report
        if previous and version_key(version) < version_key(previous) and not allow_downgrade:
            raise UpdateError(f"bundle version {version} is older than the running {previous}; "
                              "add --allow-downgrade if the vendor told you to go back")
        with tempfile.TemporaryDirectory(prefix=".incoming-", dir=releases) as scratch:
            payload = Path(scratch) / "payload.tar.gz"
            _copy_verified(fh, header, payload)
            partial = releases / f".{version}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            try:
                with tarfile.open(payload, "r:gz") as tar:
                    tar.extractall(partial, filter="tar")
            except (tarfile.TarError, OSError) as exc:
                shutil.rmtree(partial, ignore_errors=True)
                raise UpdateError(f"unpacking the update failed ({exc}); check free space (`callbox doctor`)") from None
    target = releases / version
    if target.exists():
        shutil.rmtree(target)
    os.replace(partial, target)
    switch(root, version)
    ok, output = health_runner(health, root, target)
    report.health_output = output
    if not ok:
        switch(root, previous)
        report.rolled_back = True
        if after_rollback:
            restarted, output = health_runner(after_rollback, root, releases / previous if previous else target)
            if not restarted:
                report.notes.append(f"restarting on the old release failed too: {output[-300:]}")
        return report
    report.installed = True
    _prune(releases, keep={version, previous or ""})
    return report


def _prune(releases: Path, keep: set[str]) -> None:
    """Keep the newest few releases (so a manual roll back is possible) and delete the rest."""
    versions = sorted((p.name for p in releases.iterdir() if p.is_dir() and VERSION.match(p.name)), key=version_key)
    for name in versions[:-KEEP_RELEASES]:
        if name not in keep:
            shutil.rmtree(releases / name, ignore_errors=True)
