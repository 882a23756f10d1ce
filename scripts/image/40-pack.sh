#!/usr/bin/env bash
# Stage 40: unmount, shrink the root filesystem to its contents, compress, checksum.
# The first boot of Raspberry Pi OS grows the root partition to fill the card.
STAGE=40-pack
. "$(dirname "$0")/common.sh"
IMG=$WORK/callbox.img
OUT=${OUT:-$WORK/out}
need parted sfdisk e2fsck resize2fs dumpe2fs xz
{ read -r ROOT_LOOP; read -r BOOT_LOOP; } < "$WORK/loopdev"
umount "$ROOT/etc/resolv.conf" 2>/dev/null || true
rm -f "$ROOT/etc/resolv.conf.build"
in_root apt-get clean || true   # before qemu-aarch64-static goes: without binfmt's F flag chroot needs it
rm -f "$ROOT/usr/bin/qemu-aarch64-static"
rm -rf "$ROOT"/usr/src/pjproject-* "$ROOT"/var/lib/apt/lists/* "$ROOT"/root/.cache
for fs in dev/pts dev proc sys boot/firmware; do umount "$ROOT/$fs"; done
umount "$ROOT"
e2fsck -fy "$ROOT_LOOP" >/dev/null || true
resize2fs -M "$ROOT_LOOP" >/dev/null
blocks=$(dumpe2fs -h "$ROOT_LOOP" 2>/dev/null | awk -F: '/^Block count/ {gsub(/ /,"",$2); print $2}')
bsize=$(dumpe2fs -h "$ROOT_LOOP" 2>/dev/null | awk -F: '/^Block size/ {gsub(/ /,"",$2); print $2}')
losetup -d "$ROOT_LOOP" "$BOOT_LOOP"
rm -f "$WORK/loopdev"
read -r start _ < <(part_geometry "$IMG" 2)
# Partition 2 = the shrunk filesystem + 16 MiB, rounded up to whole MiB. sfdisk, not `parted -s
# resizepart`: parted 3.5 refuses to shrink in script mode, and the truncate below would then leave a
# partition table pointing past the end of the image.
size=$(( (blocks * bsize + 16 * 1024 * 1024 + 1048575) / 1048576 * 1048576 ))
echo ", $(( size / 512 ))" | sfdisk -q --no-reread --no-tell-kernel -N 2 "$IMG"
[ "$(part_geometry "$IMG" 2)" = "$start $size" ] || die "partition 2 was not resized to $size bytes"
truncate -s "$(( start + size ))" "$IMG"
mkdir -p "$OUT"
name="callbox-${VERSION}-rpios-bookworm-arm64.img.xz"
xz -T0 -6 -c "$IMG" > "$OUT/$name"
(cd "$OUT" && sha256sum "$name" > "$name.sha256")
say "image: $OUT/$name ($(du -h "$OUT/$name" | cut -f1))"
