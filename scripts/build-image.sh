#!/usr/bin/env bash
# Build the callbox SD card image: Raspberry Pi OS Lite (64-bit, Bookworm) + pjproject/pjsua2 built for
# aarch64 + callbox in its venv + production voice models with pinned checksums.
#
#   sudo scripts/build-image.sh [--work DIR] [--from STAGE] [--only STAGE] [--pubkey update-signing.pub]
#
# Runs on a connected build machine: x86_64 Debian/Ubuntu with qemu-user-static + binfmt-support, or a
# Raspberry Pi 4/5 with 64-bit Raspberry Pi OS. Needs about 15 GB free and 1-2 hours under qemu.
# Stages (scripts/image/): 00-fetch 10-base 20-pjproject 25-venv 30-callbox 40-pack. Each reads WORK,
# CACHE, ROOT, VERSION from the environment and can be re-run on its own while debugging.
# Output: $WORK/out/callbox-<version>-rpios-bookworm-arm64.img.xz and its .sha256.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
export REPO
export WORK=${WORK:-$REPO/build/image}
FROM=00 ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --work) WORK=$2; shift 2 ;;
    --from) FROM=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --pubkey) export UPDATE_PUBKEY=$2; shift 2 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "build-image: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
# --from/--only take a stage number or name (20 or 20-pjproject); compare the two-digit numbers.
FROM=${FROM%%-*} ONLY=${ONLY%%-*}
for n in "$FROM" $ONLY; do
  case "$n" in [0-9][0-9]) ;; *) echo "build-image: --from/--only want a stage like 20 or 20-pjproject, not '$n'" >&2; exit 2 ;; esac
done
export WORK CACHE=${CACHE:-$WORK/cache} ROOT=${ROOT:-$WORK/root}
export VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)}
export MODELS_DIR=${MODELS_DIR:-$WORK/models}
[ "$(id -u)" -eq 0 ] || { echo "build-image: run as root (sudo): it mounts loop devices and chroots" >&2; exit 1; }
[ -n "${UPDATE_PUBKEY:-}" ] || echo "build-image: warning: no --pubkey; the image will refuse all update bundles" >&2
mkdir -p "$WORK"

cleanup() {  # leave no mounts or loop devices behind when a stage fails
  if mountpoint -q "$ROOT" 2>/dev/null; then
    for fs in etc/resolv.conf dev/pts dev proc sys boot/firmware; do umount "$ROOT/$fs" 2>/dev/null || true; done
    umount "$ROOT" 2>/dev/null || true
  fi
  if [ -f "$WORK/loopdev" ]; then
    while read -r dev; do losetup "$dev" >/dev/null 2>&1 && { losetup -d "$dev" || true; }; done < "$WORK/loopdev"
  fi
}
on_exit() {
  local status=$?
  [ "$status" -eq 0 ] || { echo "build-image: failed (exit $status); cleaning up mounts" >&2; cleanup; }
}
trap on_exit EXIT

for stage in 00-fetch 10-base 20-pjproject 25-venv 30-callbox 40-pack; do
  n=${stage%%-*}
  if [ -n "$ONLY" ]; then [ "$n" = "$ONLY" ] || continue; elif [ "$((10#$n))" -lt "$((10#$FROM))" ]; then continue; fi
  echo "== stage $stage"
  "$REPO/scripts/image/$stage.sh"
done
