#!/usr/bin/env bash
# Stage 20: build pjproject and its pjsua2 Python binding for aarch64 inside the image. PyPI has no
# aarch64 wheel of pjsua2, so the image carries one built here (same release as the x86_64 wheel).
STAGE=20-pjproject
. "$(dirname "$0")/common.sh"
[ -d "$ROOT/usr" ] || die "$ROOT is not mounted: run 10-base.sh first"
SRC=/usr/src/pjproject-$PJPROJECT_VERSION
mkdir -p "$ROOT/usr/src"
tar -xzf "$CACHE/pjproject-$PJPROJECT_VERSION.tar.gz" -C "$ROOT/usr/src"
cat > "$ROOT$SRC/pjlib/include/pj/config_site.h" <<'H'
/* callbox: telephone-band calls, no video, no sound card (the null device clocks the bridge). */
#define PJMEDIA_HAS_VIDEO 0
#define PJMEDIA_AUDIO_DEV_HAS_ALSA 0
#define PJ_HAS_IPV6 1
#define PJSUA_MAX_CALLS 8
H
say "configuring and building pjproject $PJPROJECT_VERSION (20-40 min under qemu)"
in_root sh -c "cd $SRC && CFLAGS='-O2 -fPIC' ./configure --prefix=/usr/local --enable-shared --disable-video \
  --disable-sound --disable-opencore-amr --disable-silk --disable-sdl --disable-ffmpeg --disable-v4l2 >/dev/null \
  && make -j\$(nproc) dep >/dev/null && make -j\$(nproc) >/dev/null && make install >/dev/null && ldconfig"
say "building the pjsua2 Python wheel"
in_root sh -c "python3 -m venv /tmp/pjbuild && /tmp/pjbuild/bin/pip install -q setuptools wheel \
  && cd $SRC/pjsip-apps/src/swig/python && make PYTHON_EXE=/tmp/pjbuild/bin/python >/dev/null \
  && /tmp/pjbuild/bin/python setup.py -q bdist_wheel -d /opt/callbox/wheels && rm -rf /tmp/pjbuild"
ls "$ROOT"/opt/callbox/wheels/pjsua2-*.whl >/dev/null || die "no pjsua2 wheel was produced"
say "pjsua2 wheel: $(basename "$ROOT"/opt/callbox/wheels/pjsua2-*.whl)"
