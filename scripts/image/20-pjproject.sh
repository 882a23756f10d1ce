#!/usr/bin/env bash
# Stage 20: build pjproject and its pjsua2 Python binding for aarch64 inside the image. PyPI has no
# aarch64 wheel of pjsua2, so the image carries one built here (same release as the x86_64 wheel).
STAGE=20-pjproject
. "$(dirname "$0")/common.sh"
[ -d "$ROOT/usr" ] || die "$ROOT is not mounted: run 10-base.sh first"
SRC=/usr/src/pjproject-$PJPROJECT_VERSION
TARBALL=${PJPROJECT_TARBALL:-$CACHE/pjproject-$PJPROJECT_VERSION.tar.gz}
LOGS=${LOGS:-$WORK/logs}
mkdir -p "$ROOT/usr/src" "$LOGS"
[ -f "$TARBALL" ] || die "no $TARBALL: run 00-fetch.sh first"
# The cache is checked again here (not only in 00-fetch) because this stage is also run on its own.
if ! sha256_ok "$TARBALL" "$PJPROJECT_SHA256"; then
  [ "${PJPROJECT_UNPINNED_OK:-0}" = 1 ] || die "$TARBALL does not match PJPROJECT_SHA256 ($PJPROJECT_SHA256) in pins.env"
  say "WARNING: ******** UNPINNED pjproject source ($(sha256sum "$TARBALL" | cut -d' ' -f1)) ********"
  say "WARNING: PJPROJECT_UNPINNED_OK=1 is for rehearsals only; never ship an image built this way"
fi
rm -rf "${ROOT:?}$SRC"
tar -xzf "$TARBALL" -C "$ROOT/usr/src"
[ -f "$ROOT$SRC/version.mak" ] || die "$TARBALL does not unpack to $SRC"
cat > "$ROOT$SRC/pjlib/include/pj/config_site.h" <<'H'
/* callbox: telephone-band calls, no video, no sound card (the null device clocks the bridge). */
#define PJMEDIA_HAS_VIDEO 0
#define PJMEDIA_AUDIO_DEV_HAS_ALSA 0
#define PJ_HAS_IPV6 1
#define PJSUA_MAX_CALLS 8
H
say "configuring and building pjproject $PJPROJECT_VERSION (log: $LOGS/20-pjproject-build.log)"
run_logged() {  # run_logged LOG CMD...: full output to LOG, its tail on failure
  local log=$1; shift
  "$@" > "$log" 2>&1 || { tail -40 "$log" >&2; die "failed; full log: $log"; }
}
run_logged "$LOGS/20-pjproject-build.log" in_root sh -c "cd $SRC && CFLAGS='-O2 -fPIC' ./configure \
  --prefix=/usr/local --enable-shared --disable-video --disable-sound --disable-opencore-amr --disable-silk \
  --disable-sdl --disable-ffmpeg --disable-v4l2 \
  && make -j\$(nproc) dep && make -j\$(nproc) && make install && ldconfig"
# Python's own CFLAGS carry -g: without the strip _pjsua2*.so is 32 MB instead of 5 MB (wheel 9.4 -> 1.3 MB).
say "building the pjsua2 Python wheel (log: $LOGS/20-pjsua2-wheel.log)"
mkdir -p "$ROOT/opt/callbox/wheels"
rm -f "$ROOT"/opt/callbox/wheels/pjsua2-*.whl
run_logged "$LOGS/20-pjsua2-wheel.log" in_root sh -c "rm -rf /tmp/pjbuild && python3 -m venv /tmp/pjbuild \
  && /tmp/pjbuild/bin/pip install setuptools wheel \
  && cd $SRC/pjsip-apps/src/swig/python && make PYTHON_EXE=/tmp/pjbuild/bin/python \
  && strip --strip-debug build/lib.*/_pjsua2*.so \
  && /tmp/pjbuild/bin/python setup.py bdist_wheel -d /opt/callbox/wheels && rm -rf /tmp/pjbuild"
ls "$ROOT"/opt/callbox/wheels/pjsua2-*.whl >/dev/null 2>&1 || die "no pjsua2 wheel was produced"
say "pjsua2 wheel: $(basename "$ROOT"/opt/callbox/wheels/pjsua2-*.whl)"
