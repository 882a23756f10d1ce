"""Child process for the crash test: records a known PCM pattern until it is killed.

Usage: crash_child.py FIRMWARE_DIR RECORDING_PATH PUBLIC_KEY_HEX KEY_ID
Prints "ready" once the recording exists, then "chunks N" after every chunk handed to the kernel.
"""

import sys
import time

CALLEE = b"CALLEE-PCM-TEST!" * 20
BOX = b"BOX-LEG-PCM-TST!" * 20


def main() -> None:
    sys.path.insert(0, sys.argv[1])  # only as a script: the test imports this module for its constants
    from callbox.recordings.recorder import Recorder

    rec = Recorder(sys.argv[2], bytes.fromhex(sys.argv[3]), sys.argv[4], {"call_id": "crash", "created_at": "2026-03-01T10:00:00+08:00"})
    print("ready", flush=True)
    last = 0
    while True:
        rec.feed(CALLEE, BOX)
        if rec.chunks_written != last:
            last = rec.chunks_written
            print(f"chunks {last}", flush=True)
            time.sleep(0.003)  # about 300 chunks/s: far faster than a call, slow enough to keep files small


if __name__ == "__main__":
    main()
