#!/usr/bin/env bash
# Download the production voice models for the SD image, verified against pinned SHA-256 sums.
#
#   scripts/fetch-models.sh [--out DIR]     fetch + verify + unpack into DIR (default build/image/models)
#   scripts/fetch-models.sh --pin           download and print models.lock with the sums filled in (review!)
#   scripts/fetch-models.sh --list          show what would be fetched, download nothing
#
# Runs on the connected build machine only; nothing on the box or in the tests downloads anything.
# Pins live in scripts/image/models.lock. The Chinese Piper voice must be commercially licensed: its
# files come from the vendor's delivery (CALLBOX_PIPER_ZH_URL / CALLBOX_PIPER_ZH_JSON_URL).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
LOCK=${MODELS_LOCK:-$HERE/image/models.lock}
WORK=${WORK:-$HERE/../build/image}
CACHE=${CACHE:-$WORK/cache}
OUT=$WORK/models
MODE=fetch
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --pin) MODE=pin; shift ;;
    --list) MODE=list; shift ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "fetch-models: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
die() { echo "fetch-models: $*" >&2; exit 1; }

resolve() {  # url field -> real url
  case "$1" in
    vendor:*) local var=${1#vendor:}; [ -n "${!var:-}" ] || die "set $var to the licensed voice file's location (vendor delivery)"; echo "${!var}" ;;
    *) echo "$1" ;;
  esac
}

download() {  # url dest
  mkdir -p "$(dirname "$2")"
  curl -fL --retry 3 -o "$2.part" "$1" && mv "$2.part" "$2"
}

mkdir -p "$CACHE/models"
[ "$MODE" = fetch ] && { mkdir -p "$OUT"; rm -f "$OUT/MODELS.sha256.new"; }
pinned_lock=""
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in ''|'#'*) pinned_lock+="$line"$'\n'; continue ;; esac
  read -r name sha licence url <<<"$line"
  if [ "$MODE" = list ]; then printf '%-34s %-10s %s\n' "$name" "${sha:0:8}" "$url"; continue; fi
  real=$(resolve "$url")
  file="$CACHE/models/$name$(case "$real" in *.zip) echo .zip ;; esac)"
  if [ "$MODE" = pin ]; then
    download "$real" "$file"
    sum=$(sha256sum "$file" | cut -d' ' -f1)
    pinned_lock+=$(printf '%-34s %s  %-34s %s' "$name" "$sum" "$licence" "$url")$'\n'
    continue
  fi
  case "$sha" in PIN-ME*) die "$name has no pinned checksum in $LOCK: run --pin on a trusted connection, review, commit" ;; esac
  if [ ! -f "$file" ] || [ "$(sha256sum "$file" | cut -d' ' -f1)" != "$sha" ]; then
    download "$real" "$file"
  fi
  [ "$(sha256sum "$file" | cut -d' ' -f1)" = "$sha" ] || { rm -f "$file"; die "$name: checksum mismatch (expected $sha); not using it"; }
  case "$name" in
    vosk-*) mkdir -p "$OUT/vosk"; rm -rf "${OUT:?}/vosk/$name"; (cd "$OUT/vosk" && unzip -q "$file") ;;
    *) mkdir -p "$OUT/piper"; cp "$file" "$OUT/piper/$name" ;;
  esac
  printf '%s  %s  %s\n' "$sha" "$name" "$licence" >> "$OUT/MODELS.sha256.new"
done < "$LOCK"

split_piper_voices() {  # cut each verified Piper voice at its decoder input (voice/piper_windowed.py):
  # the box then decodes long sentences in windows (same audio, ~85 MB less peak per sentence). Needs the
  # onnx package, which the box does not carry: a throwaway venv on this build machine (the cut files
  # are plain ONNX, the same on aarch64). Derived files: listed with their sums, no licence of their own.
  local venv=$WORK/split-venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  "$venv/bin/pip" install -q "onnx==${ONNX_VERSION:-1.23.2}" numpy
  set -- "$OUT"/piper/*.onnx
  local voices=()
  for model in "$@"; do
    case "$model" in *.front.onnx|*.dec.onnx) ;; *) voices+=("$model") ;; esac
  done
  [ ${#voices[@]} -gt 0 ] || return 0
  PYTHONPATH="$HERE/../firmware" "$venv/bin/python" -m callbox.voice.piper_windowed "${voices[@]}"
  for model in "${voices[@]}"; do
    for part in "${model%.onnx}.front.onnx" "${model%.onnx}.dec.onnx"; do
      printf '%s  %s  %s\n' "$(sha256sum "$part" | cut -d' ' -f1)" "piper/$(basename "$part")" "derived" >> "$OUT/MODELS.sha256.new"
    done
  done
}

case "$MODE" in
  pin) printf '%s' "$pinned_lock" ;;
  fetch)
    [ "${SPLIT_PIPER:-1}" = 1 ] && split_piper_voices
    mv "$OUT/MODELS.sha256.new" "$OUT/MODELS.sha256"; echo "fetch-models: models verified and unpacked in $OUT" ;;
esac
