#!/usr/bin/env bash
# Rehearse the aarch64 stages of the SD image without the Raspberry Pi OS image: an arm64 Debian
# Bookworm root (mmdebstrap) stands in for Raspberry Pi OS Lite, which is Debian Bookworm based, and
# stages 10 (packages only), 20 (pjproject + pjsua2 wheel), 25 (venv) and 30 (callbox install) run
# against it under qemu user emulation. Then the pjsua2 wheel is smoke-tested in it (endpoint on the null
# audio device, one loopback call) and the stage times are written to $WORK/logs/times.txt.
# Stage 00 (image + model downloads, pins) and stage 40 (pack) are NOT rehearsed.
#
#   nice -n 10 scripts/image/rehearse-arm64.sh [--from STEP] [--only STEP]   STEP: root 10 20 25 30 smoke
#
# Needs root, an x86_64 (or arm64) Debian/Ubuntu host with qemu-user-static, binfmt-support, mmdebstrap,
# git, python3-pip, about 6 GB and 40-70 minutes on two cores. Environment:
#   WORK=/work/imgbuild            everything goes here (root/, cache/, logs/, wheels/); not the checkout
#   MIRROR=http://deb.debian.org/debian
#   PJPROJECT_TARBALL=file         pjproject source; else PJPROJECT_GIT=dir (a git dir with the release
#                                  tag: `git archive` of it), else the pinned download of 00-fetch.
#   PJPROJECT_UNPINNED_OK=1        accept a tarball that does not match pins.env (a git archive never does)
#   HOST_CA=1                      copy /usr/local/share/ca-certificates/*.crt into the root (for a host
#                                  behind a TLS-inspecting proxy: pip in the root must trust it too)
# Output: $WORK/root/opt/callbox/wheels/pjsua2-*.whl (also copied to $WORK/out/), logs in $WORK/logs.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
export REPO WORK=${WORK:-/work/imgbuild}
export CACHE=${CACHE:-$WORK/cache} ROOT=${ROOT:-$WORK/root} LOGS=${LOGS:-$WORK/logs}
export VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)}
export ROOT_READY=1
MIRROR=${MIRROR:-http://deb.debian.org/debian}
STAGE=rehearse
# shellcheck source=common.sh
. "$REPO/scripts/image/common.sh"
FROM=root ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) sed -n 2,21p "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "run as root (chroot, bind mounts)"
need mmdebstrap chroot mount git python3
mkdir -p "$WORK" "$CACHE" "$LOGS" "$WORK/out"
STEPS="root 10 20 25 30 smoke image"
wanted() {  # wanted STEP: in --only, or at/after --from
  if [ -n "$ONLY" ]; then [ "$1" = "$ONLY" ]; return; fi
  local s seen=0; for s in $STEPS; do [ "$s" = "$FROM" ] && seen=1; [ "$s" = "$1" ] && return $((1 - seen)); done
  return 1
}
timed() {  # timed NAME CMD...: run, log, append "NAME seconds status" to times.txt
  local name=$1 t0 rc; shift
  t0=$(date +%s); say "step $name (log: $LOGS/$name.log)"
  set +e; "$@" > "$LOGS/$name.log" 2>&1; rc=$?; set -e
  printf '%-12s %6ss  exit %s  %s\n' "$name" "$(( $(date +%s) - t0 ))" "$rc" "$(date -u +%FT%TZ)" | tee -a "$LOGS/times.txt"
  [ "$rc" -eq 0 ] || { tail -30 "$LOGS/$name.log" >&2; die "step $name failed"; }
}

BINDS="dev dev/pts proc sys"
unbind() {
  local fs
  umount "$ROOT/etc/resolv.conf" 2>/dev/null || true
  for fs in sys proc dev/pts dev; do mountpoint -q "$ROOT/$fs" && umount "$ROOT/$fs"; done
  return 0
}
bind() {
  local fs
  for fs in $BINDS; do mountpoint -q "$ROOT/$fs" || mount --bind "/$fs" "$ROOT/$fs"; done
}

# -- the stand-in root: arm64 Debian Bookworm with what Raspberry Pi OS Lite already has --------------
if wanted root; then
  [ ! -e "$ROOT" ] || die "$ROOT exists: remove it, or start with --from 10"
  timed root mmdebstrap --arch=arm64 --variant=minbase \
    --include=systemd,systemd-sysv,python3,ca-certificates,curl,sudo,dbus,iproute2,xz-utils,file \
    bookworm "$ROOT" "$MIRROR"
fi
[ -x "$ROOT/usr/bin/apt-get" ] || die "no root at $ROOT: run the root step first"
if wanted 10 || wanted 20 || wanted 25 || wanted 30 || wanted smoke; then
  bind
  trap unbind EXIT
  if [ "${HOST_CA:-0}" = 1 ] && compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
    in_root update-ca-certificates >/dev/null
  fi
fi

wanted 10 && timed 10-base "$REPO/scripts/image/10-base.sh"

if wanted 20; then
  if [ -z "${PJPROJECT_TARBALL:-}" ] && [ -n "${PJPROJECT_GIT:-}" ]; then
    export PJPROJECT_TARBALL=$CACHE/pjproject-$PJPROJECT_VERSION.git-archive.tar.gz
    git --git-dir="$PJPROJECT_GIT" archive --format=tar.gz --prefix="pjproject-$PJPROJECT_VERSION/" \
      "refs/tags/$PJPROJECT_VERSION" > "$PJPROJECT_TARBALL"
    say "pjproject from $PJPROJECT_GIT tag $PJPROJECT_VERSION ($(git --git-dir="$PJPROJECT_GIT" rev-parse "refs/tags/$PJPROJECT_VERSION^{commit}"))"
  elif [ -z "${PJPROJECT_TARBALL:-}" ]; then
    fetch "$PJPROJECT_URL" "$PJPROJECT_SHA256" "$CACHE/pjproject-$PJPROJECT_VERSION.tar.gz"
  fi
  timed 20-pjproject "$REPO/scripts/image/20-pjproject.sh"
  cp "$ROOT"/opt/callbox/wheels/pjsua2-*.whl "$WORK/out/"
fi

if wanted 25; then
  timed 00-callbox-wheel build_callbox_wheel
  timed 25-venv "$REPO/scripts/image/25-venv.sh"
fi

wanted 30 && timed 30-callbox env MODELS_DIR= "$REPO/scripts/image/30-callbox.sh"

if wanted smoke; then
  install -m 0755 "$REPO/scripts/image/pjsua2-smoke.py" "$ROOT/tmp/pjsua2-smoke.py"
  py=/opt/callbox/releases/$VERSION/venv/bin/python
  [ -x "$ROOT$py" ] || py=python3   # before stage 25: the wheel, installed into a throwaway venv
  if [ "$py" = python3 ]; then
    in_root sh -c 'rm -rf /tmp/smoke && python3 -m venv /tmp/smoke && /tmp/smoke/bin/pip install -q /opt/callbox/wheels/pjsua2-*.whl'
    py=/tmp/smoke/bin/python
  fi
  timed smoke in_root "$py" /tmp/pjsua2-smoke.py
  cat "$LOGS/smoke.log"
  in_root sh -c "file -L \$($py -c 'import _pjsua2; print(_pjsua2.__file__)')" | tee -a "$LOGS/smoke.log"
fi
# -- the image mechanics of stages 10 and 40 (loop devices, grow, mount, shrink, pack) ---------------
# A stand-in for the Raspberry Pi OS image: boot (FAT) + root (ext4) partitions, the root filesystem
# being the rehearsal root without what stages 20-30 added. Then 10-base, 30-callbox and 40-pack run
# on it as in a release build (WORK=$WORK/image), ending in an .img.xz that must list both partitions.
make_standin_image() {
  local stage=$WORK/image-stage img=$WORK/image-standin.img boot_mb=256 root_mb
  rm -rf "$stage" && mkdir -p "$stage"
  tar -C "$ROOT" --one-file-system --exclude=./usr/src --exclude=./opt/callbox --exclude='./usr/local/lib/*' \
    --exclude='./usr/local/include/*' --exclude='./usr/local/bin/*' \
    --exclude='./tmp/*' --exclude='./var/cache/apt/archives/*.deb' -cf - . | tar -C "$stage" -xf -
  mkdir -p "$stage/boot/firmware" "$stage/dev" "$stage/proc" "$stage/sys"
  rm -f "$stage/etc/resolv.conf.build" "$stage/usr/bin/qemu-aarch64-static"
  root_mb=$(( $(du -sm "$stage" | cut -f1) * 12 / 10 + 64 ))
  rm -f "$img" "$img.boot" "$img.root"
  truncate -s "${boot_mb}M" "$img.boot"
  if grep -qw vfat /proc/filesystems || modprobe vfat 2>/dev/null; then
    mkfs.vfat -n bootfs "$img.boot" >/dev/null
  else  # e.g. a container whose kernel has no FAT driver: the boot partition's type is not under test
    say "WARNING: this kernel cannot mount vfat: the stand-in boot partition is ext2"
    mkfs.ext2 -q -L bootfs "$img.boot"
  fi
  truncate -s "${root_mb}M" "$img.root" && mkfs.ext4 -q -L rootfs -d "$stage" "$img.root"
  truncate -s $(( 4 + boot_mb + root_mb ))M "$img"
  printf 'label: dos\nstart=8192, size=%s, type=c\nstart=%s, type=83\n' \
    $(( boot_mb * 2048 )) $(( 8192 + boot_mb * 2048 )) | sfdisk -q "$img"
  dd if="$img.boot" of="$img" bs=1M seek=4 conv=notrunc,sparse status=none
  dd if="$img.root" of="$img" bs=1M seek=$(( 4 + boot_mb )) conv=notrunc,sparse status=none
  rm -rf "$img.boot" "$img.root" "$stage"
  xz -T0 -1 -f "$img"   # -> $img.xz
}
image_cleanup() {  # what build-image.sh does when a stage fails: no mounts or loop devices left behind
  local r=$WORK/image/root fs dev
  for fs in etc/resolv.conf dev/pts dev proc sys boot/firmware ""; do
    mountpoint -q "$r/$fs" 2>/dev/null && umount "$r/$fs"
  done
  if [ -f "$WORK/image/loopdev" ]; then
    while read -r dev; do losetup "$dev" >/dev/null 2>&1 && losetup -d "$dev"; done < "$WORK/image/loopdev"
  fi
  return 0
}
if wanted image; then
  need mkfs.vfat sfdisk parted mkfs.ext4 xz
  if [ -f "$WORK/image-standin.img.xz" ]; then say "reusing $WORK/image-standin.img.xz (delete it to rebuild)"
  else timed image-standin make_standin_image; fi
  img_env=(env WORK="$WORK/image" CACHE="$WORK" ROOT="$WORK/image/root" ROOT_READY=0
           RPIOS_URL="file://$WORK/image-standin.img.xz" SKIP_RPI_PKGS=1 MODELS_DIR= RELEASE_SRC=)
  mkdir -p "$WORK/image"
  trap 'unbind; image_cleanup' EXIT
  timed image-10-base "${img_env[@]}" "$REPO/scripts/image/10-base.sh"
  timed image-30-callbox "${img_env[@]}" "$REPO/scripts/image/30-callbox.sh"
  timed image-40-pack "${img_env[@]}" "$REPO/scripts/image/40-pack.sh"
  out=$(ls "$WORK"/image/out/callbox-*-rpios-bookworm-arm64.img.xz)
  (cd "$(dirname "$out")" && sha256sum -c "$(basename "$out").sha256")
  xz -dc "$out" | head -c 1M > "$WORK/image/mbr.bin" || true
  sfdisk -l "$WORK/image/mbr.bin" | tee -a "$LOGS/image-40-pack.log"
  say "image $(du -h "$out" | cut -f1): $out"
fi
say "done; times in $LOGS/times.txt"
