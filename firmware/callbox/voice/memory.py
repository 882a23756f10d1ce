"""Give memory the voice engines freed back to the system (docs/voice.md, Memory).

Piper (onnxruntime without its arena) and Whisper (CTranslate2) allocate their working buffers with
malloc; glibc keeps freed heap pages mapped, so after the prologues are rendered the daemon holds
~100–200 MB it no longer uses. ``malloc_trim`` hands free heap pages back (madvise), costs a few ms,
and changes nothing else: the next synthesis simply faults fresh pages in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
_libc = None


def release_free_memory() -> bool:
    """``malloc_trim(0)`` on glibc; False where there is no glibc (nothing to do)."""
    global _libc
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
