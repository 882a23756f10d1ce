#!/usr/bin/env bash
# Stage 10: unpack the OS image, grow it, mount it at $ROOT (boot partition at $ROOT/boot/firmware) and
# install the Debian packages callbox needs, inside the image (chroot; qemu-user-static on x86_64).
STAGE=10-base
. "$(dirname "$0")/common.sh"
[ "$(id -u)" -eq 0 ] || die "run as root (loop devices and chroot)"
need mount chroot
IMG=$WORK/callbox.img
if [ "${ROOT_READY:-0}" = 1 ]; then
  # Rehearsal (scripts/image/rehearse-arm64.sh): $ROOT is already an arm64 Debian Bookworm tree with
  # dev, dev/pts, proc and sys bound; no OS image is unpacked or mounted. Never set in a release build.
  say "ROOT_READY=1: using the existing root at $ROOT (rehearsal, no image)"
  [ -x "$ROOT/usr/bin/apt-get" ] || die "ROOT_READY=1 but $ROOT has no usr/bin/apt-get"
else
  need xz losetup parted e2fsck resize2fs
  say "unpacking $(basename "$RPIOS_URL")"
  xz -dc "$CACHE/$(basename "$RPIOS_URL")" > "$IMG"
  truncate -s "+${IMAGE_GROW_MB}M" "$IMG"
  parted -s "$IMG" resizepart 2 100%
  ROOT_LOOP=$(attach_part "$IMG" 2)
  BOOT_LOOP=$(attach_part "$IMG" 1)
  printf '%s\n%s\n' "$ROOT_LOOP" "$BOOT_LOOP" > "$WORK/loopdev"   # root first: 40-pack shrinks it
  e2fsck -fy "$ROOT_LOOP" >/dev/null || true
  resize2fs "$ROOT_LOOP" >/dev/null
  mkdir -p "$ROOT"
  mount "$ROOT_LOOP" "$ROOT"
  mount "$BOOT_LOOP" "$ROOT/boot/firmware"
  for fs in dev dev/pts proc sys; do mount --bind "/$fs" "$ROOT/$fs"; done
fi
if [ "$(uname -m)" != aarch64 ]; then
  need qemu-aarch64-static
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "binfmt for aarch64 is not registered: apt-get install qemu-user-static binfmt-support"
  cp "$(command -v qemu-aarch64-static)" "$ROOT/usr/bin/"   # for binfmt entries without the F flag
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf.build" && mount --bind /etc/resolv.conf "$ROOT/etc/resolv.conf"
say "installing Debian packages in the image"
in_root apt-get update -qq
PKGS="python3-venv python3-dev build-essential pkg-config swig
  libasound2-dev libssl-dev libopus-dev libsrtp2-dev uuid-dev
  espeak-ng sox libsndfile1 network-manager i2c-tools sqlite3 unzip"
RPI_PKGS="python3-lgpio"   # from archive.raspberrypi.com, which Raspberry Pi OS has in its sources
if [ "${SKIP_RPI_PKGS:-${ROOT_READY:-0}}" = 1 ]; then   # rehearsal on plain Debian: see rehearse-arm64.sh
  for p in $RPI_PKGS; do
    if in_root apt-cache show "$p" >/dev/null 2>&1; then PKGS="$PKGS $p"
    else say "WARNING: $p is not in this root's archives (plain Debian?): skipped in this rehearsal"; fi
  done
else
  PKGS="$PKGS $RPI_PKGS"
fi
# shellcheck disable=SC2086  # word splitting of the package list is intended
in_root apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
# A swap file on an SD card wears it out and hides memory leaks: the box runs without swap.
in_root systemctl disable dphys-swapfile.service 2>/dev/null || true
say "base system ready at $ROOT"
