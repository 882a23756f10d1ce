#!/usr/bin/env bash
# Stage 00: download every input once into the cache, each checked against its pinned SHA-256:
# the Raspberry Pi OS Lite (64-bit, Bookworm) image, the pjproject source, the production voice models.
STAGE=00-fetch
. "$(dirname "$0")/common.sh"
need curl sha256sum unzip
fetch "$RPIOS_URL" "$RPIOS_SHA256" "$CACHE/$(basename "$RPIOS_URL")"
fetch "$PJPROJECT_URL" "$PJPROJECT_SHA256" "$CACHE/pjproject-$PJPROJECT_VERSION.tar.gz"
env WORK="$WORK" CACHE="$CACHE" "$REPO/scripts/fetch-models.sh" --out "$WORK/models"
# The callbox wheel is built here, on the host (pure Python: any architecture).
build_callbox_wheel
say "inputs ready in $CACHE and $WORK"
