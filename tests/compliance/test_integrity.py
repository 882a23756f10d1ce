"""Signed rule packs and the tamper-evident audit log."""

from __future__ import annotations

import base64
import sqlite3
from importlib import resources
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from callbox.compliance import signing
from callbox.compliance.rulepack import RulePackError, load_pack
from callbox.store import audit, queries


@pytest.fixture
def vendor(monkeypatch):
    """A vendor key pair made for this test; its public key is the only trusted one."""
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    monkeypatch.setattr(signing, "VENDOR_PUBLIC_KEYS", (pem.decode(),))
    return key


def shipped(pack_id: str) -> str:
    return (resources.files("callbox.compliance") / "packs" / f"{pack_id}.toml").read_text(encoding="utf-8")


def newer_cn() -> bytes:
    text = shipped("cn").replace('version = "2026.11.1"', 'version = "2026.12.1"')
    return text.replace('windows = [["09:00", "12:00"], ["14:00", "20:00"]]', 'windows = [["09:30", "12:00"], ["14:00", "19:00"]]').encode()


def write(tmp_path: Path, pack: bytes, sig: bytes) -> tuple[Path, Path]:
    (tmp_path / "cn.toml").write_bytes(pack)
    (tmp_path / "cn.toml.sig").write_bytes(sig)
    return tmp_path / "cn.toml", tmp_path / "cn.toml.sig"


def test_good_signature_installs_and_applies(cli, vendor, tmp_path):
    data = tmp_path / "box"
    assert cli(data, "init", "--org-name", "x", "--callback-number", "+862161234567")[0] == 0
    pack, sig = write(tmp_path, newer_cn(), signing.sign(newer_cn(), vendor))
    code, out, err = cli(data, "rules", "install", str(pack), "--signature", str(sig))
    assert code == 0, err
    assert "2026.12.1" in out and (data / "rules" / "cn.toml").exists()
    assert load_pack("cn", data).version == "2026.12.1"
    assert cli(data, "check-call", "x", "--purpose", "reminder", "--json")[0] == 3
    assert "rules.install" in cli(data, "audit", "export")[1]


def test_raw_signature_bytes_accepted(vendor, tmp_path):
    raw = vendor.sign(newer_cn())
    assert len(raw) == 64
    assert signing.install(tmp_path, newer_cn(), raw).pack.version == "2026.12.1"


@pytest.mark.parametrize("tamper", ["pack", "signature", "other_key", "garbage"])
def test_tampered_pack_or_signature_refused(cli, vendor, tmp_path, tamper):
    data = tmp_path / "box"
    body, sig = newer_cn(), signing.sign(newer_cn(), vendor)
    if tamper == "pack":
        body = body.replace(b'"14:00", "19:00"', b'"14:00", "23:00"')
    elif tamper == "signature":
        raw = bytearray(base64.b64decode(sig))
        raw[0] ^= 1
        sig = base64.b64encode(bytes(raw))
    elif tamper == "other_key":
        sig = signing.sign(body, Ed25519PrivateKey.generate())
    else:
        sig = b"not a signature"
    pack, sig_path = write(tmp_path, body, sig)
    code, out, err = cli(data, "rules", "install", str(pack), "--signature", str(sig_path))
    assert code == 2
    assert "refused" in err and ("signature" in err)
    assert not (data / "rules" / "cn.toml").exists()


def test_older_pack_refused(vendor, tmp_path):
    old = shipped("cn").replace('version = "2026.11.1"', 'version = "2025.1.1"').encode()
    with pytest.raises(signing.SignatureError, match="older"):
        signing.install(tmp_path, old, signing.sign(old, vendor))


def test_edited_installed_pack_stops_loading(vendor, tmp_path):
    signing.install(tmp_path, newer_cn(), signing.sign(newer_cn(), vendor))
    path = tmp_path / "rules" / "cn.toml"
    path.write_bytes(path.read_bytes().replace(b'"19:00"', b'"23:00"'))
    with pytest.raises(RulePackError, match="signature"):
        load_pack("cn", tmp_path)


def test_shipped_vendor_key_is_ed25519():
    for pem in signing.VENDOR_PUBLIC_KEYS:
        assert signing._public_key(pem)


# -- audit log -------------------------------------------------------------------------------------
def _filled(box) -> None:
    for i in range(5):
        queries.add_dnc(box.store, f"+861380013800{i}", "staff", f"entry {i}")
    assert audit.verify(box.store).ok


def _sql(box, *statements: str) -> None:
    con = sqlite3.connect(box.store.path)
    for s in statements:
        con.execute(s)
    con.commit()
    con.close()


def test_intact_chain_and_head_file(box):
    _filled(box)
    report = audit.verify(box.store)
    assert report.ok and report.entries == 6 and report.file_checked
    seq, digest = audit.read_head_file(box.store)
    assert seq == 6 and digest == report.head_hash


def test_edit_detected(box):
    _filled(box)
    _sql(box, "UPDATE auditentry SET subject = '+8613800000000' WHERE seq = 3")
    report = audit.verify(box.store)
    assert not report.ok and report.first_bad_seq == 3 and "modified" in report.problem


def test_delete_middle_detected(box):
    _filled(box)
    _sql(box, "DELETE FROM auditentry WHERE seq = 4")
    report = audit.verify(box.store)
    assert not report.ok and report.first_bad_seq == 4 and "missing" in report.problem


def test_delete_last_detected_by_head_row(box):
    _filled(box)
    _sql(box, "DELETE FROM auditentry WHERE seq >= 5")
    report = audit.verify(box.store)
    assert not report.ok and report.first_bad_seq == 5 and "missing" in report.problem


def test_delete_last_and_fix_row_detected_by_head_file(box):
    _filled(box)
    _sql(box, "DELETE FROM auditentry WHERE seq = 6",
         "UPDATE audithead SET seq = 5, hash = (SELECT hash FROM auditentry WHERE seq = 5)")
    report = audit.verify(box.store)
    assert not report.ok and "audit.head" in report.problem


def test_rolled_back_append_does_not_reach_head_file(box):
    _filled(box)
    with pytest.raises(RuntimeError):
        with box.store.atomic():
            queries.add_dnc(box.store, "+8613900000000", "staff")
            raise RuntimeError("crash before commit")
    assert audit.read_head_file(box.store)[0] == 6
    assert audit.verify(box.store).ok
    queries.add_dnc(box.store, "+8613900000000", "staff")
    assert audit.read_head_file(box.store)[0] == 7 and audit.verify(box.store).ok


def test_cli_verify_exit_code(cli, tmp_path):
    data = tmp_path / "box"
    cli(data, "init", "--org-name", "x", "--callback-number", "+862161234567")
    cli(data, "dnc", "add", "13800138000")
    assert cli(data, "audit", "verify")[0] == 0
    con = sqlite3.connect(data / "callbox.sqlite3")
    con.execute("DELETE FROM auditentry WHERE seq = (SELECT max(seq) FROM auditentry)")
    con.commit()
    con.close()
    code, _, err = cli(data, "audit", "verify")
    assert code == 1 and "BROKEN" in err
