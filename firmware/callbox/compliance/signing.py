"""Signed rule packs: only the vendor can change the rules a box enforces.

A pack update is a ``.toml`` file plus an Ed25519 signature over its exact bytes (64 raw bytes or
base64 text). ``callbox rules install`` verifies it against the vendor public key(s) shipped in the
firmware (:data:`VENDOR_PUBLIC_KEYS`), refuses packs that do not parse or that are older than the
pack in force (a replayed old pack could relax rules), and only then writes
``<data>/rules/<id>.toml`` with its signature next to it. ``rulepack.load_pack`` re-verifies the
installed copy every time it loads it, so editing the file on the SD card does not change the rules:
it stops the box with a message instead.

The matching private key never enters this repository (tests generate their own pair and patch
:data:`VENDOR_PUBLIC_KEYS`). There is deliberately no command-line or environment override of the
trusted keys: a box owner who could add a key could sign away the rules.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from callbox.compliance.rulepack import RulePack, RulePackError, load_pack, parse_pack_text

# Development vendor key (2026-11). The private half is kept off-repo by the vendor; rotate by adding
# the new public key here in one firmware release and signing with it from the next.
VENDOR_PUBLIC_KEYS: tuple[str, ...] = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAPvUCQCE+HdyaO9WlbiDfzXCTy1df2j/5lodeZ/cHO/c=\n"
    "-----END PUBLIC KEY-----\n",
)

PACK_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


class SignatureError(ValueError):
    """The pack or its signature is not acceptable; the message says what to do."""


def _public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise SignatureError("a configured vendor key is not an Ed25519 public key")
    return key


def decode_signature(raw: bytes) -> bytes:
    """A signature file holds 64 raw bytes or their base64 text."""
    if len(raw) == 64:
        return raw
    try:
        sig = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureError("the signature file is neither 64 raw bytes nor base64 text") from exc
    if len(sig) != 64:
        raise SignatureError(f"the signature is {len(sig)} bytes; an Ed25519 signature is 64")
    return sig


def verify(data: bytes, signature: bytes, trusted: tuple[str, ...] | None = None) -> None:
    """Raise :class:`SignatureError` unless ``signature`` over ``data`` verifies with a trusted key."""
    sig = decode_signature(signature)
    for pem in trusted if trusted is not None else VENDOR_PUBLIC_KEYS:
        try:
            _public_key(pem).verify(sig, data)
            return
        except InvalidSignature:
            continue
    raise SignatureError(
        "signature does not verify against the vendor key: the pack was changed after signing or was not "
        "signed by the vendor; get the original .toml and .sig from the vendor"
    )


def sign(data: bytes, private_key: Ed25519PrivateKey) -> bytes:
    """Vendor-side helper (and for tests): base64 signature text for ``data``."""
    return base64.b64encode(private_key.sign(data)) + b"\n"


def version_key(version: str) -> tuple:
    """'2026.11.1' -> (2026, 11, 1); non-numeric parts compare as text after numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-]", version))


@dataclass(frozen=True)
class Installed:
    pack: RulePack
    path: Path
    replaced_version: str | None


def check_installed(path: Path, trusted: tuple[str, ...] | None = None) -> None:
    """Re-verify an installed pack file against its ``.sig`` (used on every load)."""
    sig_path = path.with_name(path.name + ".sig")
    if not sig_path.exists():
        raise SignatureError(f"{path} has no signature file {sig_path.name}; reinstall it with `callbox rules install`")
    verify(path.read_bytes(), sig_path.read_bytes(), trusted)


def _in_force(data_dir: Path, pack_id: str, trusted: tuple[str, ...] | None) -> RulePack | None:
    """The pack a new one would replace: a verified installed copy, else the shipped one, else None."""
    path = data_dir / "rules" / f"{pack_id}.toml"
    if path.exists():
        try:
            check_installed(path, trusted)
            return parse_pack_text(path.read_text(encoding="utf-8"), str(path))
        except (SignatureError, RulePackError):
            pass  # a broken installed copy: this install replaces it; compare with the shipped pack
    try:
        return load_pack(pack_id)
    except RulePackError:
        return None


def install(data_dir: Path, pack_bytes: bytes, signature: bytes, trusted: tuple[str, ...] | None = None) -> Installed:
    """Verify and install a pack into ``<data>/rules/<id>.toml``; refuse anything doubtful."""
    verify(pack_bytes, signature, trusted)
    try:
        text = pack_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SignatureError("the pack is not UTF-8 text") from exc
    try:
        pack = parse_pack_text(text, "the pack")
    except RulePackError as exc:
        raise SignatureError(f"the signed pack is not a valid rule pack: {exc}") from exc
    if not PACK_ID.match(pack.id):
        raise SignatureError(f"pack id {pack.id!r} is not a short lower-case name")
    current = _in_force(Path(data_dir), pack.id, trusted)
    if current is not None and version_key(pack.version) < version_key(current.version):
        raise SignatureError(
            f"pack {pack.id} {pack.version} is older than the {current.version} in force; "
            "installing it would roll the rules back (ask the vendor for the current pack)"
        )
    folder = Path(data_dir) / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{pack.id}.toml"
    sig_path = path.with_name(path.name + ".sig")
    for target, content in ((sig_path, base64.b64encode(decode_signature(signature)) + b"\n"), (path, pack_bytes)):
        tmp = target.with_name(target.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    return Installed(pack, path, current.version if current else None)
