"""SD image stages: the checks that are quick everywhere (pins, stage selection, shellcheck), and the
aarch64 rehearsal's pjsua2 smoke test only when CALLBOX_REHEARSAL_WORK names a rehearsed tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
IMAGE = REPO / "scripts" / "image"
STAGES = ["00-fetch", "10-base", "20-pjproject", "25-venv", "30-callbox", "40-pack"]


def _pjproject_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    root = tmp_path / "root"
    (root / "usr").mkdir(parents=True, exist_ok=True)
    return {**os.environ, "ROOT": str(root), "WORK": str(tmp_path / "work"), "CACHE": str(tmp_path / "cache"),
            "PJPROJECT_SHA256": "0" * 64, **extra}


def test_pjproject_stage_refuses_an_unpinned_tarball(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    src = tmp_path / "pjproject-2.15.1"
    src.mkdir()
    (src / "version.mak").write_text("export PJ_VERSION_MAJOR := 2\n")
    with tarfile.open(cache / "pjproject-2.15.1.tar.gz", "w:gz") as tar:
        tar.add(src, arcname=src.name)
    done = subprocess.run([str(IMAGE / "20-pjproject.sh")], capture_output=True, text=True,
                          env=_pjproject_env(tmp_path))
    assert done.returncode != 0
    assert "does not match PJPROJECT_SHA256" in done.stderr
    assert not (tmp_path / "root" / "usr" / "src" / "pjproject-2.15.1").exists()  # nothing unpacked


def test_pjproject_stage_wants_the_tarball(tmp_path):
    done = subprocess.run([str(IMAGE / "20-pjproject.sh")], capture_output=True, text=True,
                          env=_pjproject_env(tmp_path, PJPROJECT_UNPINNED_OK="1"))
    assert done.returncode != 0 and "run 00-fetch.sh first" in done.stderr


@pytest.fixture
def stub_tree(tmp_path: Path) -> Path:
    """build-image.sh next to stub stages that only record that they ran."""
    if os.geteuid() != 0:
        pytest.skip("build-image.sh refuses to run without root")
    (tmp_path / "scripts" / "image").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "build-image.sh", tmp_path / "scripts" / "build-image.sh")
    (tmp_path / "pyproject.toml").write_text('[project]\nversion = "9.9.9"\n')
    for stage in STAGES:
        stub = tmp_path / "scripts" / "image" / f"{stage}.sh"
        stub.write_text(f'#!/bin/sh\necho {stage} >> "$WORK/ran"\n')
        stub.chmod(0o755)
    return tmp_path


def _ran(tree: Path, *args: str) -> tuple[int, list[str]]:
    work = tree / "work"
    shutil.rmtree(work, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k not in ("WORK", "CACHE", "ROOT", "VERSION")}
    done = subprocess.run([str(tree / "scripts" / "build-image.sh"), "--work", str(work), *args],
                          capture_output=True, text=True, env=env)
    ran = (work / "ran").read_text().split() if (work / "ran").exists() else []
    return done.returncode, ran


@pytest.mark.parametrize("args, expected", [
    ((), STAGES),
    (("--from", "25"), ["25-venv", "30-callbox", "40-pack"]),
    (("--from", "20-pjproject"), ["20-pjproject", "25-venv", "30-callbox", "40-pack"]),  # name, not number
    (("--only", "20-pjproject"), ["20-pjproject"]),
    (("--only", "30"), ["30-callbox"]),
])
def test_build_image_stage_selection(stub_tree, args, expected):
    rc, ran = _ran(stub_tree, *args)
    assert rc == 0 and ran == expected


def test_build_image_rejects_an_unknown_stage(stub_tree):
    rc, ran = _ran(stub_tree, "--from", "pjproject")
    assert rc == 2 and ran == []


def test_stage_scripts_pass_shellcheck():
    exe = shutil.which("shellcheck")
    if exe is None:
        pytest.skip("shellcheck is not installed: apt-get install shellcheck")
    scripts = [*sorted(IMAGE.glob("*.sh")), REPO / "scripts" / "build-image.sh"]
    done = subprocess.run([exe, "-x", "-P", "SCRIPTDIR", "-e", "SC2034", *map(str, scripts)],
                          capture_output=True, text=True, cwd=IMAGE)
    assert done.returncode == 0, done.stdout


def test_rehearsed_pjsua2_places_a_loopback_call():
    """Slow and needs root + qemu binfmt: only against a tree made by scripts/image/rehearse-arm64.sh."""
    work = os.environ.get("CALLBOX_REHEARSAL_WORK")
    if not work:
        pytest.skip("set CALLBOX_REHEARSAL_WORK to a tree made by scripts/image/rehearse-arm64.sh to run it")
    done = subprocess.run([str(IMAGE / "rehearse-arm64.sh"), "--only", "smoke"], capture_output=True, text=True,
                          env={**os.environ, "WORK": work}, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    log = (Path(work) / "logs" / "smoke.log").read_text()
    assert "confirmed with audio media" in log and "ARM aarch64" in log
