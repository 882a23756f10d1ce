# shellcheck shell=bash
# Shared helpers for the SD image stages. Sourced, never run. Every stage reads its inputs from the
# environment that scripts/build-image.sh exports (WORK, CACHE, ROOT, VERSION, REPO), so each stage can
# also be run on its own while debugging (and 30-callbox.sh in tests, against a plain directory).
set -euo pipefail

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
WORK=${WORK:-$REPO/build/image}
CACHE=${CACHE:-$WORK/cache}
ROOT=${ROOT:-$WORK/root}
BOOT=${BOOT:-$ROOT/boot/firmware}
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)}
# Pinned inputs (image, pjproject): see pins.env; model pins: models.lock.
# shellcheck source=pins.env
. "$REPO/scripts/image/pins.env"

say() { printf '\033[1m[%s]\033[0m %s\n' "${STAGE:-image}" "$*"; }
die() { printf '[%s] error: %s\n' "${STAGE:-image}" "$*" >&2; exit 1; }
need() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || die "needs '$c' (apt-get install $(pkg_for "$c"))"; done; }
pkg_for() {
  case "$1" in
    qemu-aarch64-static) echo qemu-user-static binfmt-support ;;
    parted) echo parted ;; sfdisk) echo fdisk ;; resize2fs|e2fsck|dumpe2fs) echo e2fsprogs ;; xz) echo xz-utils ;;
    systemd-sysusers|systemctl) echo systemd ;; *) echo "$1" ;;
  esac
}

# sha256_ok FILE SHA: true when FILE exists and matches the pinned digest.
sha256_ok() { [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]; }

# fetch URL SHA DEST: download once into the cache, refuse anything that does not match its pin.
fetch() {
  local url=$1 sha=$2 dest=$3
  case "$sha" in ''|PIN-ME*) die "no checksum pinned for $url: run scripts/fetch-models.sh --pin on a trusted connection, review, commit" ;; esac
  if sha256_ok "$dest" "$sha"; then return 0; fi
  mkdir -p "$(dirname "$dest")"
  say "downloading $url"
  curl -fL --retry 3 -o "$dest.part" "$url"
  sha256_ok "$dest.part" "$sha" || { rm -f "$dest.part"; die "checksum mismatch for $url (expected $sha): not using it"; }
  mv "$dest.part" "$dest"
}

# part_geometry IMG N: "START SIZE" of partition N in bytes (parted's machine-readable listing).
part_geometry() {
  parted -ms "$1" unit B print | awk -F: -v n="$2" '$1 == n {sub(/B$/, "", $2); sub(/B$/, "", $4); print $2, $4}'
}
# attach_part IMG N: a loop device for partition N alone (offset + size limit). Not `losetup -P`: its
# /dev/loopXpN nodes need udev, which containers and many CI runners do not have.
attach_part() {
  local geo
  geo=$(part_geometry "$1" "$2")
  [ -n "$geo" ] || die "$1 has no partition $2"
  # shellcheck disable=SC2086  # geo is "START SIZE"
  set -- "$1" $geo
  losetup -f --show -o "$2" --sizelimit "$3" "$1"
}

# in_root CMD...: run inside the image (chroot; qemu-user-static makes aarch64 binaries run on x86_64).
in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

# build_callbox_wheel: $WORK/wheels/callbox-*.whl from the committed tree (git archive HEAD), so the
# image is what the commit says and no build/ or *.egg-info is left in the checkout. Uncommitted
# changes are not in the image (a warning says so). Outside a git checkout, the tree as it is.
build_callbox_wheel() {
  local src=$WORK/callbox-src
  rm -rf "$WORK/wheels" "$src" && mkdir -p "$WORK/wheels" "$src"
  if git -C "$REPO" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    [ -z "$(git -C "$REPO" status --porcelain --untracked-files=no)" ] \
      || say "WARNING: uncommitted changes in $REPO are NOT in the image (built from $(git -C "$REPO" rev-parse --short HEAD))"
    git -C "$REPO" archive HEAD | tar -x -C "$src"
  else
    cp -a "$REPO/." "$src/"
  fi
  python3 -m pip wheel --no-deps --quiet -w "$WORK/wheels" "$src"
  rm -rf "$src"
  ls "$WORK"/wheels/callbox-*.whl >/dev/null 2>&1 || die "no callbox wheel was built"
}
