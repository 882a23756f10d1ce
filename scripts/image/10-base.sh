#!/usr/bin/env bash
# Stage 10: unpack the OS image, grow it, mount it at $ROOT (boot partition at $ROOT/boot/firmware) and
# install the Debian packages callbox needs, inside the image (chroot; qemu-user-static on x86_64).
STAGE=10-base
. "$(dirname "$0")/common.sh"
[ "$(id -u)" -eq 0 ] || die "run as root (loop devices and chroot)"
need xz losetup parted e2fsck resize2fs mount chroot
IMG=$WORK/callbox.img
say "unpacking $(basename "$RPIOS_URL")"
xz -dc "$CACHE/$(basename "$RPIOS_URL")" > "$IMG"
truncate -s "+${IMAGE_GROW_MB}M" "$IMG"
parted -s "$IMG" resizepart 2 100%
LOOP=$(losetup -Pf --show "$IMG")
echo "$LOOP" > "$WORK/loopdev"
e2fsck -fy "${LOOP}p2" >/dev/null || true
resize2fs "${LOOP}p2" >/dev/null
mkdir -p "$ROOT"
mount "${LOOP}p2" "$ROOT"
mount "${LOOP}p1" "$ROOT/boot/firmware"
for fs in dev dev/pts proc sys; do mount --bind "/$fs" "$ROOT/$fs"; done
if [ "$(uname -m)" != aarch64 ]; then
  need qemu-aarch64-static
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || die "binfmt for aarch64 is not registered: apt-get install qemu-user-static binfmt-support"
  cp "$(command -v qemu-aarch64-static)" "$ROOT/usr/bin/"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf.build" && mount --bind /etc/resolv.conf "$ROOT/etc/resolv.conf"
say "installing Debian packages in the image"
in_root apt-get update -qq
in_root apt-get install -y -qq --no-install-recommends \
  python3-venv python3-dev build-essential pkg-config swig \
  libasound2-dev libssl-dev libopus-dev libsrtp2-dev uuid-dev \
  espeak-ng sox libsndfile1 network-manager python3-lgpio i2c-tools sqlite3 unzip >/dev/null
# A swap file on an SD card wears it out and hides memory leaks: the box runs without swap.
in_root systemctl disable dphys-swapfile.service 2>/dev/null || true
say "base system ready at $ROOT"
