#!/usr/bin/env bash
# Stage 30: make the root filesystem at $ROOT a callbox. File operations only (no chroot, no network),
# so it runs the same against the mounted image and against a plain directory in the tests.
#
#   ROOT=dir [VERSION=v] [RELEASE_SRC=dir-with-venv] [MODELS_DIR=dir] [UPDATE_PUBKEY=file] 30-callbox.sh
#
# Installs: the `callbox` system user (systemd-sysusers), the data directory (0750, tmpfiles), systemd
# units (enabled), journald limits, the hardware watchdog, the modem udev rules, the example
# callbox.toml on the boot partition, the vendor update key, the voice models, and the release link.
STAGE=30-callbox
. "$(dirname "$0")/common.sh"
[ -d "$ROOT" ] || die "ROOT=$ROOT is not a directory"
VERSION=${VERSION:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$REPO/pyproject.toml" | head -1)}
SYSTEMD=$REPO/scripts/systemd
UNITS="callbox.service callbox-web.service callbox-sweep.service callbox-sweep.timer callbox-firstboot.service callbox-ups.service"
ENABLE="callbox.service callbox-web.service callbox-sweep.timer callbox-firstboot.service callbox-ups.service"

# -- user, groups, directories -------------------------------------------------------------------
install -D -m 0644 "$SYSTEMD/callbox.sysusers" "$ROOT/usr/lib/sysusers.d/callbox.conf"
install -D -m 0644 "$SYSTEMD/callbox.tmpfiles" "$ROOT/usr/lib/tmpfiles.d/callbox.conf"
install -d -m 0755 "$ROOT/etc"
if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers --root="$ROOT" "$ROOT/usr/lib/sysusers.d/callbox.conf"
else
  say "systemd-sysusers not found here: the callbox user is created at first boot"
fi
install -d -m 0755 "$ROOT/var/lib" "$ROOT/opt/callbox" "$ROOT/opt/callbox/releases" "$ROOT/etc/callbox"
install -d -m 0750 "$ROOT/var/lib/callbox"
uid=$(awk -F: '$1 == "callbox" {print $3}' "$ROOT/etc/passwd" 2>/dev/null || true)
gid=$(awk -F: '$1 == "callbox" {print $3}' "$ROOT/etc/group" 2>/dev/null || true)
if [ -n "$uid" ] && [ -n "$gid" ] && [ "$(id -u)" -eq 0 ]; then
  chown "$uid:$gid" "$ROOT/var/lib/callbox"
fi

# -- systemd: units, journald limits, watchdog --------------------------------------------------------
for unit in $UNITS; do
  install -D -m 0644 "$SYSTEMD/$unit" "$ROOT/usr/lib/systemd/system/$unit"
done
install -D -m 0644 "$SYSTEMD/journald.conf.d/callbox.conf" "$ROOT/etc/systemd/journald.conf.d/callbox.conf"
install -d -m 0755 "$ROOT/var/log/journal"
# The SoC's hardware watchdog reboots the Pi if systemd itself (or the kernel) stops answering.
install -D -m 0644 /dev/stdin "$ROOT/etc/systemd/system.conf.d/callbox-watchdog.conf" <<'CONF'
# callbox: the BCM2835/2712 hardware watchdog. PID 1 pets it every RuntimeWatchdogSec/2; if the kernel or
# systemd hangs, the SoC resets the board. A reboot that hangs is forced after RebootWatchdogSec.
[Manager]
RuntimeWatchdogSec=15s
RebootWatchdogSec=2min
CONF
enable_unit() {  # what `systemctl --root enable` does, without needing the rest of the system's units
  local unit=$1 target
  target=$(sed -n 's/^WantedBy=//p' "$ROOT/usr/lib/systemd/system/$unit" | head -1)
  [ -n "$target" ] || return 0
  install -d -m 0755 "$ROOT/etc/systemd/system/$target.wants"
  ln -sfn "/usr/lib/systemd/system/$unit" "$ROOT/etc/systemd/system/$target.wants/$unit"
}
for unit in $ENABLE; do enable_unit "$unit"; done

# -- hardware: modem names, boot partition -----------------------------------------------------------
install -D -m 0644 "$REPO/hardware/99-callbox-modem.rules" "$ROOT/etc/udev/rules.d/99-callbox-modem.rules"
install -D -m 0644 "$REPO/scripts/callbox.example.toml" "$BOOT/callbox.example.toml"

# -- vendor update key ---------------------------------------------------------------------------
if [ -n "${UPDATE_PUBKEY:-}" ]; then
  install -m 0644 "$UPDATE_PUBKEY" "$ROOT/etc/callbox/update-signing.pub"
else
  say "UPDATE_PUBKEY not set: this image will refuse every update bundle until a key is installed"
fi

# -- voice models (read-only for the daemon) ------------------------------------------------------------
if [ -n "${MODELS_DIR:-}" ]; then
  [ -f "$MODELS_DIR/MODELS.sha256" ] || die "$MODELS_DIR has no MODELS.sha256: run scripts/fetch-models.sh"
  install -d -m 0755 "$ROOT/opt/callbox/models"
  cp -a "$MODELS_DIR/." "$ROOT/opt/callbox/models/"
  chmod -R u=rwX,go=rX "$ROOT/opt/callbox/models"
fi

# -- the release and its `current` link ------------------------------------------------------------------
if [ -n "${RELEASE_SRC:-}" ]; then
  [ -x "$RELEASE_SRC/venv/bin/callbox" ] || die "$RELEASE_SRC has no venv/bin/callbox"
  rm -rf "$ROOT/opt/callbox/releases/$VERSION"
  cp -a "$RELEASE_SRC" "$ROOT/opt/callbox/releases/$VERSION"
fi
if [ -d "$ROOT/opt/callbox/releases/$VERSION" ]; then
  ln -sfn "releases/$VERSION" "$ROOT/opt/callbox/current"
  install -d -m 0755 "$ROOT/usr/local/bin"
  ln -sfn /opt/callbox/current/venv/bin/callbox "$ROOT/usr/local/bin/callbox"
fi
chmod -R go-w "$ROOT/opt/callbox"
say "customised $ROOT for callbox $VERSION"
