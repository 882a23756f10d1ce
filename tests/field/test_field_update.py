"""Signed offline updates: verify, install side by side, atomic switch, roll back on a failed health check."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from callbox import update
from callbox.cli import main


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    priv, pub = tmp_path / "vendor.key", tmp_path / "vendor.pub"
    update.keygen(priv, pub)
    return priv, pub


def release(tmp_path: Path, version: str, healthy: bool = True) -> Path:
    d = tmp_path / f"build-{version}"
    (d / "venv" / "bin").mkdir(parents=True)
    script = d / "venv" / "bin" / "callbox"
    script.write_text(f"#!/bin/sh\necho callbox {version}\nexit {0 if healthy else 3}\n")
    script.chmod(0o755)
    (d / "VERSION").write_text(version)
    return d


def bundle(tmp_path: Path, keys, version: str, healthy: bool = True) -> Path:
    out = tmp_path / f"callbox-{version}.cbupdate"
    update.make_bundle(release(tmp_path, version, healthy), version, keys[0], out)
    return out


def test_apply_installs_and_switches(tmp_path, keys):
    root = tmp_path / "opt"
    report = update.apply_bundle(bundle(tmp_path, keys, "1.0.0"), keys[1], root)
    assert report.installed and not report.rolled_back and report.previous is None
    assert os.readlink(root / "current") == "releases/1.0.0"
    assert (root / "current" / "VERSION").read_text() == "1.0.0"
    assert "callbox 1.0.0" in report.health_output

    report = update.apply_bundle(bundle(tmp_path, keys, "1.1.0"), keys[1], root)
    assert report.installed and report.previous == "1.0.0"
    assert update.current_version(root) == "1.1.0"
    assert (root / "releases" / "1.0.0").is_dir()  # kept for a manual roll back


def test_failed_health_check_rolls_back(tmp_path, keys, capsys):
    root = tmp_path / "opt"
    update.apply_bundle(bundle(tmp_path, keys, "1.0.0"), keys[1], root)
    broken = bundle(tmp_path, keys, "1.1.0", healthy=False)
    code = main(["update", "apply", str(broken), "--public-key", str(keys[1]), "--root", str(root)])
    assert code == 1
    assert update.current_version(root) == "1.0.0"
    assert "rolled back" in capsys.readouterr().err


def test_rollback_runs_the_after_rollback_command(tmp_path, keys):
    root = tmp_path / "opt"
    update.apply_bundle(bundle(tmp_path, keys, "1.0.0"), keys[1], root)
    marker = tmp_path / "restarted"
    report = update.apply_bundle(bundle(tmp_path, keys, "1.1.0", healthy=False), keys[1], root,
                                 after_rollback=f"sh -c 'readlink {root}/current > {marker}'")
    assert report.rolled_back and marker.read_text().strip() == "releases/1.0.0"


def test_first_install_failing_leaves_no_current(tmp_path, keys):
    root = tmp_path / "opt"
    report = update.apply_bundle(bundle(tmp_path, keys, "1.0.0", healthy=False), keys[1], root)
    assert report.rolled_back and not (root / "current").exists()


def test_wrong_key_tampering_and_downgrade_are_refused(tmp_path, keys):
    root = tmp_path / "opt"
    good = bundle(tmp_path, keys, "2.0.0")
    other_priv, other_pub = tmp_path / "other.key", tmp_path / "other.pub"
    update.keygen(other_priv, other_pub)
    with pytest.raises(update.UpdateError, match="signature"):
        update.apply_bundle(good, other_pub, root)

    raw = bytearray(good.read_bytes())
    raw[-10] ^= 0xFF  # inside the payload
    bad = tmp_path / "bad.cbupdate"
    bad.write_bytes(bytes(raw))
    with pytest.raises(update.UpdateError, match="checksum"):
        update.apply_bundle(bad, keys[1], root)
    header_edit = good.read_bytes().replace(b'"version":"2.0.0"', b'"version":"9.0.0"')
    bad.write_bytes(header_edit)
    with pytest.raises(update.UpdateError, match="signature"):
        update.apply_bundle(bad, keys[1], root)
    assert not (root / "current").exists()
    assert [p.name for p in (root / "releases").iterdir()] == []

    update.apply_bundle(good, keys[1], root)
    old = bundle(tmp_path, keys, "1.9.0")
    with pytest.raises(update.UpdateError, match="older"):
        update.apply_bundle(old, keys[1], root)
    assert update.apply_bundle(old, keys[1], root, allow_downgrade=True).installed


def test_cli_make_and_apply(tmp_path, keys, capsys):
    rel = release(tmp_path, "3.0.0")
    out = tmp_path / "b.cbupdate"
    assert main(["update", "make", "--from", str(rel), "--version", "3.0.0", "--key", str(keys[0]), "--out", str(out)]) == 0
    root = tmp_path / "opt"
    assert main(["update", "apply", str(out), "--public-key", str(keys[1]), "--root", str(root)]) == 0
    assert "-> 3.0.0" in capsys.readouterr().out
    assert main(["update", "status", "--root", str(root)]) == 0
    assert '"current": "3.0.0"' in capsys.readouterr().out
    assert main(["update", "apply", str(out), "--public-key", str(tmp_path / "missing.pub"), "--root", str(root)]) == 2


def test_old_releases_are_pruned(tmp_path, keys):
    root = tmp_path / "opt"
    for v in ("1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"):
        update.apply_bundle(bundle(tmp_path, keys, v), keys[1], root)
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["1.2.0", "1.3.0", "1.4.0"]
