#!/usr/bin/env bash
# Stage 40: unmount, shrink the root filesystem to its contents, compress, checksum.
# The first boot of Raspberry Pi OS grows the root partition to fill the card.
STAGE=40-pack
. "$(dirname "$0")/common.sh"
IMG=$WORK/callbox.img
OUT=${OUT:-$WORK/out}
LOOP=$(cat "$WORK/loopdev")
rm -f "$ROOT/usr/bin/qemu-aarch64-static"
umount "$ROOT/etc/resolv.conf" 2>/dev/null || true
rm -f "$ROOT/etc/resolv.conf.build"
in_root apt-get clean || true
rm -rf "$ROOT"/usr/src/pjproject-* "$ROOT"/var/lib/apt/lists/* "$ROOT"/root/.cache
for fs in dev/pts dev proc sys boot/firmware; do umount "$ROOT/$fs"; done
umount "$ROOT"
e2fsck -fy "${LOOP}p2" >/dev/null || true
resize2fs -M "${LOOP}p2" >/dev/null
blocks=$(dumpe2fs -h "${LOOP}p2" 2>/dev/null | awk -F: '/^Block count/ {gsub(/ /,"",$2); print $2}')
bsize=$(dumpe2fs -h "${LOOP}p2" 2>/dev/null | awk -F: '/^Block size/ {gsub(/ /,"",$2); print $2}')
start=$(parted -ms "$IMG" unit B print | awk -F: '$1 == "2" {sub(/B/,"",$2); print $2}')
losetup -d "$LOOP"
end=$(( start + blocks * bsize + 16 * 1024 * 1024 ))
parted -s "$IMG" unit B resizepart 2 "$(( end - 1 ))" </dev/null || true
truncate -s "$end" "$IMG"
mkdir -p "$OUT"
name="callbox-${VERSION}-rpios-bookworm-arm64.img.xz"
xz -T0 -6 -c "$IMG" > "$OUT/$name"
(cd "$OUT" && sha256sum "$name" > "$name.sha256")
say "image: $OUT/$name ($(du -h "$OUT/$name" | cut -f1))"
