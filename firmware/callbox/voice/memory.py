"""Give memory the voice engines freed back to the system (docs/voice.md, Memory).

Piper (onnxruntime without its arena) and Whisper (CTranslate2) allocate their working buffers with
malloc; glibc keeps freed heap pages mapped, so after the prologues are rendered the daemon holds
~100–200 MB it no longer uses. ``malloc_trim`` hands free heap pages back (madvise), costs a few ms,
and changes nothing else: the next synthesis simply faults fresh pages in.

A call leaves reference cycles behind (session ⇄ line ⇄ player, closures), and with them the numpy
buffers they hold, until Python's cyclic collector happens to run: measured after 4 calls, 35 MB that
``malloc_trim`` alone could not give back (scripts/bench_memory.py --profile phases). A full collection
walks every tracked object: ~260,000 once the models and pypinyin's dictionaries were loaded (~60 ms on
the x86 dev machine, longer on a Pi, holding the GIL; ~190,000 fewer since dialogs/phonetic.py keeps those
dictionaries compactly): so the startup objects are frozen
(:func:`freeze_startup_objects`, ``gc.freeze``) and a collection then only looks at what was made
since (0.0 ms measured with no call up; with calls up, their objects only), cheap enough after every call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging

log = logging.getLogger(__name__)
_libc = None


def collect_garbage() -> int:
    """A full cyclic collection (cheap once :func:`freeze_startup_objects` ran); the objects found."""
    return gc.collect()


def freeze_startup_objects() -> int:
    """Collect, then move every object alive now (modules, models, dictionaries) out of the collector's
    sight for good. Refcounting still frees them; only cycles among them would never be collected, and
    the daemon's startup objects live as long as the process. Returns how many were frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def release_free_memory(collect: bool = True) -> bool:
    """Collect cyclic garbage (``collect``), then ``malloc_trim(0)`` on glibc; False where there is no
    glibc (nothing more to do)."""
    global _libc
    if collect:
        gc.collect()
    if _libc is None:
        try:
            _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    try:
        return bool(_libc.malloc_trim(0))
    except Exception:  # noqa: BLE001 (never let housekeeping break a call)
        log.debug("malloc_trim failed", exc_info=True)
        return False
