"""What did the callee mean? Pure text → intent, Chinese and English.

Rules, not a model: opt-out must be recognised in any phrasing and never confused with benign
replies, and every rule here is readable by the next engineer and testable. Order matters: negated
and benign forms are checked before the words they contain (不要紧 is not 不要; "no problem" is not
"no"; "stop, let me get a pen" is not "stop calling").

Confidence: 1.0 for a clear phrase, 0.6 for an ambiguous one (e.g. a bare "stop" or 别打扰); the
dialog asks once to confirm an opt-out below ``CONFIRM_BELOW``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INTENTS = (
    "opt_out",
    "consent_yes",
    "consent_no",
    "stop_recording",
    "handoff",
    "call_later",
    "repeat",
    "question",
    "unknown",
)
CONFIRM_BELOW = 0.8

DTMF_INTENTS = {"1": "consent_yes", "2": "consent_no", "9": "opt_out", "0": "handoff"}


@dataclass(frozen=True)
class Intent:
    name: str
    confidence: float
    matched: str = ""


def _rx(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


# --- Chinese ------------------------------------------------------------------------------------
ZH_OPT_OUT = _rx(
    r"(不要|别|不用|不必|请勿|勿)(再|在)?(给我)?(打|打电话|来电|打过来|骚扰|联系)",
    r"(以后|今后|再也)?(不要|别)(再)?(给我)?(打|来电)",
    r"不(想|需要|希望)(再)?(接|收)到?(你们的)?(电话|来电)",
    r"(把我|我的号码)(从.*)?(删|移除|拉黑|加入.*(免打扰|黑名单))",
    r"(免打扰|退订|拉黑|黑名单)",
    r"不要再联系",
    r"烦死了.*(别|不要)",
)
ZH_OPT_OUT_WEAK = _rx(r"^(别打扰|别烦我|烦不烦|不需要)[。！!,.，]*$")
ZH_BENIGN_NEG = _rx(r"不要紧", r"没关系", r"不要客气", r"别客气", r"不打紧", r"不用谢")
ZH_STOP_RECORDING = _rx(r"(别|不要|停止|不许|不准|不能)(再)?录(音)?", r"不(同意|想|要)录音", r"关掉录音")
ZH_HANDOFF = _rx(r"(转|找|换)(人工|真人|客服|工作人员|医生|前台)", r"人工(服务|客服)?", r"真人")
ZH_CALL_LATER = _rx(r"(在|正在)(忙|开会|开车)", r"(晚点|晚些|稍后|等会|等一下|回头|改天)(再)?(打|说|联系)", r"现在不方便", r"没空")
ZH_REPEAT = _rx(r"(再|重新)(说|讲)一(遍|次)", r"没听清", r"什么\?*$", r"你说什么", r"听不清")
ZH_NO = _rx(r"^(不|不是|不同意|不行|不要|不用|不确认|不需要|否|没有|不对)[。！!,.，]*$", r"不同意", r"不(能|会)(来|去|到)", r"(改期|改时间|换个时间|取消)")
ZH_YES = _rx(r"(同意|可以|好的|好啊|好|行|是的|是|对|对的|确认|没问题|嗯|会来|会到|准时|能来|能到|OK)")
ZH_QUESTION = _rx(r"(吗|呢|么|\?|？|怎么|为什么|哪里|多少|几点|什么时候)")

# --- English ------------------------------------------------------------------------------------
EN_OPT_OUT = _rx(
    r"\bstop (calling|ringing|phoning|contacting|bothering)\b",
    r"\b(don'?t|do not|never) (call|ring|phone|contact)( me| us)?( again| anymore| any more)?\b",
    r"\b(take|remove|delete) (me|my number|this number)\b.*\b(list|off|from)\b",
    r"\b(put|add) me on (the|your)? ?do not call\b",
    r"\bdo not call list\b",
    r"\bunsubscribe\b",
    r"\bopt (me )?out\b",
    r"\b(no|don'?t want|do not want) (more|any more|anymore|further) (calls|phone calls)\b",
    r"\bleave me alone\b",
    r"\bquit calling\b",
)
EN_OPT_OUT_WEAK = _rx(r"^\W*stop\W*$", r"^\W*(not interested|no thanks)\W*$")
EN_BENIGN = _rx(r"\bno problem\b", r"\bno worries\b", r"\bstop,? (let me|i need|wait|hold on)\b", r"\bnot a problem\b")
EN_STOP_RECORDING = _rx(r"\b(stop|don'?t|do not|no) record(ing)?\b", r"\bturn off the recording\b")
EN_HANDOFF = _rx(r"\b(real|a|human|live) (person|human|agent|operator|receptionist)\b", r"\b(talk|speak) to (someone|somebody|a human|the doctor|staff|reception)\b", r"\boperator\b", r"\brepresentative\b")
EN_CALL_LATER = _rx(r"\b(call|ring) (me )?(back )?(later|tomorrow|another time)\b", r"\b(busy|driving|in a meeting) (right )?now\b", r"\bnot a good time\b", r"\bi'?m busy\b")
EN_REPEAT = _rx(r"\b(repeat|say (that|it) again|pardon|come again|didn'?t (catch|hear))\b", r"^\W*what\W*$", r"\bsorry\?")
EN_NO = _rx(r"^\W*(no|nope|nah|decline|i decline|don'?t|do not)\b", r"\b(i )?(do not|don'?t) (agree|consent|allow)\b", r"\b(cancel|reschedule)\b", r"\bcan'?t (make|come)\b")
EN_YES = _rx(r"\b(yes|yeah|yep|sure|ok|okay|agree|i agree|confirm|confirmed|correct|of course|absolutely|fine|i'?ll be there|i will be there|will come|go ahead|alright|all right)\b")
EN_QUESTION = _rx(r"\?$", r"^\W*(what|when|where|why|how|who|which|can|could|is|are|do|does)\b")


def _search(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(0) if match else ""


def classify(text: str, language: str) -> Intent:
    """Map one utterance to an intent. Empty text is ``unknown`` with confidence 0."""
    t = (text or "").strip()
    if not t:
        return Intent("unknown", 0.0)
    if language == "zh":
        return _classify_zh(t)
    return _classify_en(t)


def _classify_zh(t: str) -> Intent:
    benign = ZH_BENIGN_NEG.sub("", t)
    if m := _search(ZH_STOP_RECORDING, benign):
        return Intent("stop_recording", 1.0, m)
    if m := _search(ZH_OPT_OUT, benign):
        return Intent("opt_out", 1.0, m)
    if m := _search(ZH_OPT_OUT_WEAK, benign):
        return Intent("opt_out", 0.6, m)
    if m := _search(ZH_HANDOFF, benign):
        return Intent("handoff", 1.0, m)
    if m := _search(ZH_CALL_LATER, benign):
        return Intent("call_later", 1.0, m)
    if m := _search(ZH_REPEAT, benign):
        return Intent("repeat", 0.9, m)
    if m := _search(ZH_NO, benign):
        return Intent("consent_no", 0.9, m)
    if benign != t and not benign.strip("，。！!,. "):
        return Intent("consent_yes", 0.7, t)  # "没关系" alone: assent
    if m := _search(ZH_YES, benign):
        return Intent("consent_yes", 0.9, m)
    if m := _search(ZH_QUESTION, benign):
        return Intent("question", 0.7, m)
    return Intent("unknown", 0.3)


def _classify_en(t: str) -> Intent:
    low = t.lower()
    benign = EN_BENIGN.sub(" ", low)
    if m := _search(EN_STOP_RECORDING, benign):
        return Intent("stop_recording", 1.0, m)
    if m := _search(EN_OPT_OUT, benign):
        return Intent("opt_out", 1.0, m)
    if m := _search(EN_OPT_OUT_WEAK, benign):
        return Intent("opt_out", 0.6, m)
    if m := _search(EN_HANDOFF, benign):
        return Intent("handoff", 1.0, m)
    if m := _search(EN_CALL_LATER, benign):
        return Intent("call_later", 1.0, m)
    if m := _search(EN_REPEAT, benign):
        return Intent("repeat", 0.9, m)
    if benign != low and not _search(EN_NO, benign) and not benign.strip(" .,!?"):
        return Intent("consent_yes", 0.7, t)  # "no problem" alone: assent
    if m := _search(EN_NO, benign):
        return Intent("consent_no", 0.9, m)
    if m := _search(EN_YES, benign):
        return Intent("consent_yes", 0.9, m)
    if m := _search(EN_QUESTION, benign):
        return Intent("question", 0.7, m)
    return Intent("unknown", 0.3)
