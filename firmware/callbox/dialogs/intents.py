"""What did the callee mean? Pure text → intent, Chinese and English.

Rules, not a model: opt-out must be recognised in any phrasing and never confused with benign
replies, and every rule here is readable by the next engineer and testable. The evaluation set
(tests/data/voice_eval.csv, scripts/eval_voice.py) is the contract for changes.

How a reply is read, in order:
1. normalise (lower case, full-width punctuation, Chinese spaces removed); Chinese sound-alikes of key
   words are repaired (:mod:`callbox.dialogs.phonetic`: 扫扰 → 骚扰) after benign idioms are blanked;
2. *benign* idioms that contain alarming words are blanked out first: 不要紧 is not 不要, "no problem"
   is not "no", "stop, let me get a pen" is not "stop calling", "don't worry" is not "don't";
3. the first rule that matches wins: a clear opt_out, stop_recording, an unsure opt_out, handoff, call_later,
   repeat, keep the appointment (negated change), consent_no, question, consent_yes.

Confidence: 1.0 for a clear phrase, 0.6 for an ambiguous one (a bare "stop", 别烦我, "not
interested"); the dialog asks once to confirm an opt-out below ``CONFIRM_BELOW``. In English a matched
opt-out phrase is written (1.0) only when nothing around it changes its sense: negated, conditional,
reported, restricted or redirected ("I didn't say stop calling", "if you don't call me", "my son said stop
calling", "don't call me before ten", "don't call my husband, call me") it is asked about once (0.6).
``scripts/audit_intents.py`` pushes benign text through these rules; re-run it after every change.
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
_ZH_NEG = r"(不要|别|不用|不必|请勿|勿|停止|不准|不许|不能)"
# A bare 打 is a call only when it is not another verb: 不要打针 / 别打包 / 不要打扰医生 are not opt-outs.
_ZH_CALL = (r"(打电话|打过来|打来|打给我|打了|打这个|打我|拨打|来电|骚扰|联系|打扰|"
            r"打(?!包|针|折|车|扫|算|开|印|扮|听|卡|工|球|牌|字|架|湿|碎|断|错|点滴|吊瓶|疫苗|麻药|招呼|游戏|呼噜|喷嚏|哈欠))")
ZH_BENIGN = _rx(
    r"不要紧(的)?", r"没关系", r"不要客气", r"别客气", r"不客气", r"不打紧", r"不用谢", r"(别|不要|不用)担心",
    r"(别|不要)急", r"(别|不要)挂(断|电话)?", r"别打扰(医生|大夫|护士|他|她|他们)", r"打电话之前",
    r"打错(了)?(号码|电话)?", r"不好意思",
)
ZH_STOP_RECORDING = _rx(
    r"(别|不要|停止|不许|不准|不能|不用|不想|不必)(再)?录", r"不(同意|想|要|愿意)(被)?录音", r"关(掉|闭)录音", r"录音(关|停)",
)
ZH_OPT_OUT = _rx(
    _ZH_NEG + r"(再|在)?(给我|跟我|和我)?" + _ZH_CALL,
    r"不(想|需要|希望|愿意)(再)?(接|收|听)(到)?.{0,4}(电话|来电)",
    r"名单(里|中|上)?.{0,2}(掉|调|除|删)",
    r"(拒绝|拒接)(接听)?(你们)?(的)?(电话|来电)",
    r"(把我|我的号码|这个号码)(从)?.{0,8}(删|移除|去掉|拿掉|划掉|拉黑|加入.{0,4}(免打扰|黑名单))",
    r"(免打扰|退订|拉黑|黑名单|取消订阅)",
    r"再打.{0,5}(投诉|报警|举报)",
    r"(投诉|举报)你们",
    r"烦死了",
)
# What makes a Chinese opt-out phrase *unsure* (asked once) instead of written, like the English rules below:
# the request is negated, denied or reported just before it in the same clause (我不想退订, 别把我拉黑, 不是要退订,
# 我没说别打了, 谁说我要退订, 我儿子说要退订), or, for the list words, it is asked about (我在黑名单里吗?,
# 我是不是被拉黑了). The negation inside a phrase (不要再打了) is the request itself and is not looked at.
_ZH_THIRD_PARTY_SAYS = (r"(他|她|他们|别人|家里人|我(的)?(儿子|女儿|老公|老婆|丈夫|妻子|先生|太太|妈妈?|爸爸?|家人|孩子))"
                        r"(说|讲|让我|叫我)(要|想)?")
_ZH_NEGATED_BEFORE = re.compile(
    r"((不|别|没有?|並不|并不|谁|从没|从来没|才不)(是|会|想|要|用|必|说过?|打算|需要|让|叫|有)*(我|你们|你)?(要|想|说|去)*"
    r"|" + _ZH_THIRD_PARTY_SAYS + r"(把我)?)$")
# A phrase that is itself a negated request (别再打了, 不要联系我) is turned round only by words that deny or
# report saying it (我没说别打了, 我不是说不要再打了, 我儿子说不要再打了): a bare refusal before it is a refusal of
# its own (我不需要别再打了, Whisper's spelling of 我不需要，别再打了, was read as negated).
_ZH_NEGATED_PHRASE = re.compile(r"(不要|别|不用|不必|请勿|勿|停止|不准|不许|不能|不想|不需要|不希望|不愿意)")
_ZH_DENIED_BEFORE = re.compile(
    r"((不|没有?|并不|並不|谁|从没|从来没)(是|有)?(说过?|讲过?|叫|让|意思是)(要|你们)?|" + _ZH_THIRD_PARTY_SAYS + r")$")
_ZH_LIST_WORDS = re.compile(r"退订|拉黑|黑名单|免打扰|取消订阅|删|移除|去掉|拿掉|划掉|投诉|举报")
# A question form, not a bare "?": Whisper adds one to plain requests (我要退订?) by their intonation.
_ZH_ASKING = re.compile(r"(吗|么|嘛)[?？]?$|是不是|有没有|能不能|可不可以|会不会|怎么")


def _clause_bounds(text: str, start: int, end: int, opening: str, closing: str) -> tuple[int, int]:
    """Where the clause holding text[start:end] begins (after the last ``opening`` mark before it) and
    ends (at the first ``closing`` mark after it, else the end of the text)."""
    begin = max(text.rfind(ch, 0, start) for ch in opening) + 1
    stops = [i for i in (text.find(ch, end) for ch in closing) if i >= 0]
    return begin, min(stops) if stops else len(text)


def _zh_opt_out_confidence(text: str, match: re.Match[str]) -> float:
    """1.0 when the matched opt-out phrase is a plain request, 0.6 (ask once) when the words around it in
    its clause may turn it round. A written opt-out needs an unambiguous phrase (issue #5: 我不想退订 and
    不要把我加入黑名单 were written to the do-not-call list)."""
    start, phrase = match.start(), match.group(0)
    clause_start, clause_end = _clause_bounds(text, start, match.end(), "，,。.!！;；:：", "，,。.!！;；")
    clause = text[clause_start:clause_end]
    before = text[clause_start:start]
    turned = _ZH_DENIED_BEFORE if _ZH_NEGATED_PHRASE.match(phrase) else _ZH_NEGATED_BEFORE
    if turned.search(before):
        return 0.6
    if _ZH_LIST_WORDS.search(phrase) and _ZH_ASKING.search(clause):
        return 0.6
    return 1.0


ZH_OPT_OUT_WEAK = _rx(r"^(我|你们|我真的|真)?(别打扰我?|别烦我|烦不烦|不需要|不感兴趣|没兴趣)(了|啊)?$", r"^(别烦|烦)")
# A request not to be called again whose verb the recogniser lost ("请幕再来电"): ask once.
ZH_OPT_OUT_SOUNDS = _rx(r"^.{0,3}再(来电|打过来|打来|打电话|联系)")
ZH_HANDOFF = _rx(
    r"(转|找|换|要)(个)?(人工|真人|客服|工作人员|医生|大夫|前台|护士)",
    r"(跟|和|与)(你们的)?(工作人员|医生|大夫|人工|真人|前台|护士|客服)(说|讲|聊|通话|谈)",
    r"人工(服务|客服)", r"真人",
)
ZH_CALL_LATER = _rx(
    r"(在|正在)(忙|开会|开车|上班|外面)", r"^我再(开车|开会)",  # Whisper writes 我再开车 for 我在开车
    r"(晚点|晚些|稍后|等会|等一下再|一会儿|过会儿|待会儿?|回头|改天|明天|上午|中午|下午|晚上)(再)?(打|说|联系|聊)",
    r"现在不方便", r"没空", r"(在|正在)开车", r"不方便(接|说)",
)
ZH_REPEAT = _rx(r"(再|重新)(说|讲)(一)?(遍|次)", r"没听(清|见|懂)", r"^什么[?？]*$", r"你说(什么|啥)", r"听不(清|见|懂)")
ZH_KEEP = _rx(r"(不要|不用|不需要|别|不想|不必)(再)?(改期|改时间|取消|换时间|确认了)")
ZH_NO = _rx(
    r"^(不|不是|不同意|不行|不要|不用|不确认|不需要|否|没有|不对|不可以|不好|不了)$", r"^(那|还是)?算了",
    r"不(同意|可以|愿意|行)", r"不(能|会)(来|去|到)", r"(改期|改时间|换个时间|换时间|取消|来不了|去不了)",
    # A negated or denied yes word is a no, never a yes: 不太好, 不是的, 不对吧, 我不太同意, 没同意, 我没说可以,
    # 不一定能来, 我不记得了, 不能准时.
    # Before November 2026 each of these read as consent_yes 0.9 through its 好/对/是/同意/可以 (a recording
    # started on "I don't really agree"); the 好 of 不好意思 is blanked as benign before this runs.
    r"(不|没有?)(太|怎么|是很|是太|很|大|算|一定|能|会)?(好|行|对|可以|同意|确认|愿意|方便|准时|能来|能到|记得|记着|知道了)",
    r"不是的", r"来不及",
    r"(没有?|不是)(说|讲)过?(可以|好|行|同意|确认)", r"没有?答应",
)
ZH_QUESTION = _rx(r"[?？]$", r"(吗|么|(?<!着)呢)$", r"(怎么|为什么|哪里|哪儿|哪位|多少|几点|什么时候|什么事|谁|是什么)", r"(有个|有一个|想问|问一下)(问题)?")
# Words that hold a one-character "yes" (好, 是, 对, 行) without meaning yes; blanked before ZH_YES only, so a
# mis-heard or unrelated reply never starts a recording through them (不好意思, 你好, 还是, 对不起, 银行).
ZH_NOT_YES = _rx(
    r"不好意思", r"(你|您|大家)好", r"好像", r"(还|但|就|可|总|老|倒|于|要不|要)是", r"是不是", r"是谁", r"对不起",
    r"(银|旅|步|执|进|航|运|自|流)行", r"行(程|李|业|驶|人)",
    r"(行|好)一下",  # X一下 is a verb ("do X a moment"): 停一下/等一下 misheard as 行一下, not "OK"
)
ZH_YES = _rx(
    r"(同意|可以|好的|好啊|好|行|是的|是|对|对的|确认|没问题|嗯|会来|会到|准时|能来|能到|知道了|记得|记着|ok|okay)",
)

# --- English ------------------------------------------------------------------------------------
EN_BENIGN = _rx(
    r"\bno problem\b", r"\bno worries\b", r"\bnot a problem\b", r"\b(don'?t|do not) worry( about it)?\b", r"\bnever mind\b",
    r"\bstop,? (let me|i need|wait|hold on|that'?s|that is|i'?m|one (second|moment|sec))\b", r"\b(don'?t|do not) hang up\b",
    r"\b(don'?t|do not|never)( ever)? stop\b", r"\bi (don'?t|do not) mind\b",
)
# Blanked idioms that mean "yes, go on" when nothing else is said; "never mind", "don't hang up", "stop, wait" do not.
EN_ASSENT_IDIOM = _rx(r"\bno problem\b", r"\bno worries\b", r"\bnot a problem\b", r"\b(don'?t|do not) worry\b", r"\bi (don'?t|do not) mind\b")
EN_STOP_RECORDING = _rx(
    # "no record of my visit" and "don't record my blood pressure" are about other records (audit, November 2026)
    r"\b(stop|don'?t|do not|not) record(ing)?\b(?! (of|my|his|her|your|the|their) (?!voice|call|conversation|phone))",
    r"\bno recording\b", r"\bno record(,|\.|!|$| please)", r"\bturn off the recording\b",
    r"\b(don'?t|do not) record (this|me|the call|it)\b",
    r"\bi (don'?t|do not) want (to be|this|the call) recorded\b", r"\bopt (me )?out of (the |this |being )?record(ing|ed)?\b",
)
# Each of these names a request not to be called; whether it is *clear* enough to write to the do-not-call
# list without asking is decided by _en_opt_out_confidence from the words around it.
EN_OPT_OUT = _rx(
    r"\bstop (\w+ing (and|or) )?(calling|ringing|phoning|contacting|bothering|harassing)\b",
    r"\b(don'?t|do not|never)( ever)? (call|ring|phone|contact)(?! (me |us )?back)( me| us| here| this number)?\b",
    r"\b(don'?t|do not) want (to be )?(contacted|called)\b", r"\b(don'?t|do not) want you to (call|contact|ring)\b",
    r"\b(take|remove|delete|get) (me|my number|this number|my name|us) (off|from|out of)\b",
    r"\b(delete|lose|remove|erase|forget) (my|this) number\b",
    r"\b(my|this) number (from|off) (your|the) (\w+ )?list\b",
    r"\b(put|add) (me|my number) (on|to) (the|your)? ?do not call\b",
    r"\bdo not call list\b",
    r"\bunsubscribe\b",
    r"\bopt (me )?out\b",
    r"\b(no|don'?t want|do not want) (more|any more|anymore|further) (calls|phone calls)\b",
    r"\bno more calls\b",
    r"\bleave me alone\b",
    r"\bquit calling\b",
)
EN_OPT_OUT_WEAK = _rx(r"^\W*stop\W*$", r"\bstop \w+ing (me|us|this number)\b", r"\b(don'?t|do not) (call|ring) (me |us )?back\b", r"^\W*(not interested|no thanks|no thank you|i'?m not interested)\W*$")

# What makes a matched opt-out phrase *unsure* (the dialog asks once) instead of written: found by pushing
# benign replies and dictionary words through these rules (scripts/audit_intents.py, November 2026).
# Said by someone else: "my son said stop calling", "he told me to tell you to stop calling him".
_EN_REPORTED = re.compile(r"\b(he|she|they|someone|somebody|everyone|my \w+|his \w+|her \w+|the \w+|your \w+)( \w+)? "
                          r"(said|says|told|tells|asked|asks|wants|wanted|keeps saying)\b")
# Negated or conditional just before the phrase: "don't ever stop calling", "I didn't say stop calling",
# "I don't want to unsubscribe", "won't leave me alone", "if you don't call me", "why don't you call me".
_EN_NEGATED_BEFORE = re.compile(
    r"(\b(don'?t|do not|doesn'?t|didn'?t|did not|won'?t|will not|wouldn'?t|never|not|nobody|no one)"
    r"( ever| even| really| just| actually)?"
    r"( (say|said|saying|mean|meant|want|wanted|need|needed|ask|asked|asking|tell|told|telling|think|thought|going to|gonna|"
    r"have to|plan to|try to|like|mean to|want to|need to)( you| them| anyone| anybody| him| her)?( to)?)? $)"
    r"|\b(if|unless|why|whether|in case|until)\b"
    r"|\b(can|could|may|should|do|did|does|have|had|was|were|am|are|is) (i|we|they|he|she)\b|\b(did|do|does|have|were|are) you\b"
)
# A subject before "don't call": a statement about calls, not a request ("I don't call the clinic often").
_EN_SUBJECT_BEFORE = re.compile(r"\b(?<!told )(?<!tell )(?<!telling )(?<!asked )(?<!warned )"
                                r"(i|you|we|they|he|she|it|who|that|people|doctors?|nurses?)( \w+ly)? $")
# After the phrase: the call is restricted or redirected, or someone else is meant ("don't call me before ten",
# "don't call the landline", "stop calling my mother", "leave me alone for a second", "no more calls today").
_EN_CLEAR_AFTER = re.compile(r"^( (me|us|again|any ?more|ever( again)?|at all|please|thanks?( you)?|no more|here|on this number|"
                             r"this number|or i'?ll|or else|ok(ay)?|now|right now|already|from you( people| guys)?|forever))*"
                             r"( or\b.*| and (don'?t|do not|never|stop|quit|take|remove|leave|lose|delete)\b.*| i'?m not interested.*)? ?$")
_EN_UNSURE_AFTER = re.compile(
    r"^ ?((before|after|until|till|at|on|in|during|between|around|about|by|with|while|when|if|unless|instead|for|to|than|"
    r"so (early|late|often|much)|early|late|tonight|today|tomorrow|this (morning|afternoon|evening|week|month)|"
    r"you|him|her|them|my|his|their|your|the|a|an|that|sir|ma'?am|mrs?|ms|miss|dr|doctor|names?|yet|first|directly|"
    r"list|lists|slot|appointment|waiting|cancellation|(mon|tues|wednes|thurs|fri|satur|sun)days?('s)?|morning|afternoon|evening)\b)")
# A clear list: "take me off your list", "remove my number from your calling list", "take me off".
_EN_CLEAR_LIST = re.compile(
    r"\b(take|remove|delete|get) (me|my number|this number|my name|us) (off|from|out of)"
    r"( (your|the|this|all|any|every)( (calling|call|contact|phone|phone call|mailing|reminder|marketing|sales|automated|robocall))? "
    r"(list|lists|system|database|records|directory)| your \w+)?(?! \w)")  # "take me off your lift" is Whisper's "list"
_EN_REDIRECT = re.compile(r"\b(call|ring|phone|text|try|use) (me |my \w+ |him |her |them |the \w+ )?(on|at|instead|after|before)\b"
                          r"|\binstead\b|\bnew (number|one)\b|\b(call|ring) (me|him|her)$")


def _en_opt_out_confidence(text: str, match: re.Match[str]) -> float:
    """1.0 when the matched phrase is a plain request not to be called, 0.6 (ask once) when the words
    around it may change its sense. A written opt-out needs an unambiguous phrase."""
    clause_start, clause_end = _clause_bounds(text, match.start(), match.end(), ",.;!?", ",.;!?")
    before = text[clause_start : match.start()]
    after = text[match.end() : clause_end]
    phrase = match.group(0)
    if _EN_REPORTED.search(before) or _EN_NEGATED_BEFORE.search(before):
        return 0.6
    if "do not call list" in text:  # clear only as a request to be put on it, or alone
        return 1.0 if re.search(
            r"(^|\b(put|add|place) (me|my number|us|this number) (on|to) (the |your |a )?)do not call( list)?( please)?$",
            text[clause_start:clause_end].strip()) else 0.6  # not "am I on the do not call list?"
    if re.match(r"(take|remove|delete|get) ", phrase) and re.search(r"\b(off|from|out of)$", phrase):
        listed = _EN_CLEAR_LIST.match(text, match.start())
        return 1.0 if listed and _EN_CLEAR_AFTER.match(text[listed.end() : clause_end]) else 0.6
    if re.match(r"(put|add) ", phrase):
        after = re.sub(r"^ list\b", "", after)
    if re.match(r"(don'?t|do not|never)( ever)? (call|ring|phone|contact)", phrase) and _EN_SUBJECT_BEFORE.search(before):
        return 0.6
    if not _EN_CLEAR_AFTER.match(after) and (_EN_UNSURE_AFTER.match(re.sub(r"^ (me|us|this number)\b", "", after))
                                             or re.match(r"(no|don'?t|do not|never)\b", phrase)):
        return 0.6
    if re.match(r"(unsubscribe|opt)", phrase) and re.match(r" ?(of|from) (?!(your|the|this|all) (\w+ )?(list|calls|service|reminders))", after):
        return 0.6
    if _EN_REDIRECT.search(text[match.end():]):
        return 0.6  # "don't call my husband, call me", "forget this number, use my new one"
    return 1.0


def _en_opt_out(text: str) -> Intent | None:
    best = None
    for match in EN_OPT_OUT.finditer(text):
        confidence = _en_opt_out_confidence(text, match)
        if best is None or confidence > best.confidence:
            best = Intent("opt_out", confidence, match.group(0))
    return best


# A person is asked for, not mentioned: "are you a real person?", "the operator gave me this number", "I'll
# talk to the doctor on Tuesday", "no need to transfer me" are not handoffs.
EN_HANDOFF = _rx(
    r"\b(real|a|human|live) (person|human|agent|operator|receptionist)\b",
    r"\b(talk|speak) (to|with) (someone|somebody|a human|the doctor|a doctor|staff|reception|the receptionist|a nurse|the nurse)\b",
    r"\b(put me through|transfer me|connect me)\b", r"\boperator\b", r"\brepresentative\b",
)
_EN_HANDOFF_NOUN_ONLY = re.compile(r"^\W*((a|the|an?|to|get me|give me)\s)?(real |human |live )?(person|human|agent|operator|receptionist|representative|someone)"
                                   r"(,? please)?\W*$")
_EN_HANDOFF_ASK = re.compile(r"\b(want|wanna|need|get|give|put|transfer|connect|talk|speak|like|prefer|reach|ask for|let me|can i|could i|may i|i'?d)\b"
                             r"|\b(to|with) (a |an |the |your )?$")  # "trance for me to a human" (Whisper's "transfer me")
_EN_HANDOFF_NOT = re.compile(r"(\b(don'?t|do not|didn'?t|no need|not|never|won'?t|i'?ll|i will|i'?m going to|i already|already|i have|i'?ve)( \w+){0,4} $)"
                             r"|^(are|is|am|was|were) |\b(are you|is this|is that|am i) ")


def _en_handoff(text: str) -> Intent | None:
    for match in EN_HANDOFF.finditer(text):
        clause_start, _ = _clause_bounds(text, match.start(), match.end(), ",.;!?", "")
        before = text[clause_start : match.start()]
        if _EN_HANDOFF_NOT.search(before) or _EN_HANDOFF_NOT.search(text[clause_start:match.start()] + " "):
            continue
        if re.match(r"(put|transfer|connect|talk|speak)", match.group(0)) or _EN_HANDOFF_ASK.search(before) \
                or _EN_HANDOFF_NOUN_ONLY.match(text[clause_start:]):
            return Intent("handoff", 1.0, match.group(0))
    return None


# "Keep calling me, it's fine" holds a yes word, but answering "do you want us to stop calling you?" a yes
# writes the opt-out: a wish to keep being called is no yes to anything (audit, November 2026).
EN_KEEP_CALLING = _rx(r"\b(keep|don'?t stop|do not stop|never stop|carry on|go on|continue) (calling|ringing|phoning|reminding|sending)\b",
                      r"\b(the|your) (calls|reminders) are (fine|good|helpful|ok|okay)\b", r"\byou can (keep )?(call|calling) me\b")
EN_CALL_LATER = _rx(
    r"\b(call|ring) (me )?(back )?(later|tomorrow|another time|again (later|tomorrow))\b", r"\bcall me (back|again)\b",
    r"\b(busy|driving|in a meeting) (right )?now\b", r"\bnot a good time\b", r"\bi'?m (busy|driving|in a meeting)\b",
    r"\bcan'?t talk( right)? now\b",
)
EN_REPEAT = _rx(r"\b(repeat|say (that|it) again|pardon|come again|didn'?t (catch|hear))\b", r"^\W*what\W*$", r"\bsorry\?")
EN_KEEP = _rx(r"\b(don'?t|do not) (cancel|reschedule|change)\b", r"\bkeep (my|the) appointment\b")
EN_NO = _rx(
    r"^\W*(no|nope|nah)\b", r"\bi decline\b", r"^\W*decline\b", r"\b(i )?(do not|don'?t) (agree|consent|allow)\b",
    r"\brather not\b", r"\b(cancel|reschedule)\b", r"\bchange the (time|date|day|appointment)\b", r"\bcan'?t (make|come)\b",
    # a negated yes word is a no ("absolutely not", "that's not correct", "I can't confirm"), November 2026 audit
    r"\b(absolutely|of course|definitely|certainly|surely) not\b", r"\b(is|'s|are|'re|am|'m) not (okay|ok|fine|correct|right|alright|all right)\b",
    r"^\W*not (okay|ok|fine|correct|right|really|at all)\b", r"\b(can'?t|cannot|can not|won'?t) confirm\b",
    # denied or softened refusals ("I didn't say yes" read as consent_yes before November 2026)
    r"\b(didn'?t|did not|never) (say|said) (yes|ok|okay|you could|that you could|sure)\b", r"\bnever (agreed|consented)\b",
    r"\b(i )?(do not|don'?t) think so\b", r"\bprefer not\b", r"^\W*(yeah|yes),? no\b", r"^\W*probably not\b",
    r"\b(won'?t|will not|can'?t|cannot|might not|may not|not going to) (be there|make it|come)\b", r"\b(i'?m|i am) not coming\b",
)
# Yes words that are no yes: "I'm not sure" is unsure, not a yes.
EN_NOT_YES = _rx(r"\b(not|n'?t|never|no) (\w+ )?(yes|sure|ok|okay|fine|correct|confirm(ed)?|agree|alright|all right|absolutely)\b")
EN_YES = _rx(
    r"\b(yes|yeah|yep|sure|ok|okay|agree|i agree|confirm|confirmed|correct|of course|absolutely|fine|go ahead|alright|all right)\b",
    r"\b(i'?ll|i will) (be there|come)\b", r"\bwill come\b", r"\bsee you\b", r"\bsounds good\b",
    r"\bi can (come|make it|be there)\b",
)
EN_QUESTION = _rx(r"\?$", r"^\W*(what|when|where|why|how|who|which|can|could|is|are|do|does)\b", r"\bquestion\b")

_FULL_WIDTH = str.maketrans("，。！？；：（）", ",.!?;:()")


def normalise(text: str, language: str) -> str:
    t = (text or "").strip().lower().translate(_FULL_WIDTH)
    if language == "zh":
        t = re.sub(r"\s+", "", t)
        t = t.strip(",.!;:")
    return t


def _search(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    return match.group(0) if match else ""


def classify(text: str, language: str) -> Intent:
    """Map one utterance to an intent. Empty text is ``unknown`` with confidence 0."""
    t = normalise(text, language)
    if not t:
        return Intent("unknown", 0.0)
    if language == "zh":
        return _classify_zh(t)
    return _classify_en(t)


# Call verbs heard with the same syllables but other characters ("停止播打这个号码"). Exact toneless pinyin
# only (no fuzzy initials), and never over a real word: 拨打 = bo da. Belongs in dialogs/phonetic.py KEYWORDS (another owner's file);
# kept here until it moves.
_SAME_SOUND = ("拨打",)


def _repair_same_sound(t: str) -> str:
    from callbox.dialogs.phonetic import _available, _syllables

    if "打" not in t or not _available():
        return t
    for word in _SAME_SOUND:
        target = _syllables(word)
        n = len(word)
        for i in range(len(t) - n + 1):
            window = t[i : i + n]
            if (window != word and all("\u4e00" <= ch <= "\u9fff" for ch in window) and _syllables(window) == target
                    and not _is_word(window)):  # 博大 (bo da) is a word, not a misheard 拨打
                t = t[:i] + word + t[i + n :]
    return t


def _is_word(text: str) -> bool:
    """A word of pypinyin's phrase dictionary (47,000 words and idioms; already loaded for the repair; not
    every word is in it: 练习 is not). Asked through dialogs/phonetic.py, which loads that dictionary
    compactly (~50 MB less RSS than pypinyin's own module)."""
    from callbox.dialogs.phonetic import is_word

    return is_word(text)


def _inside_word(t: str, start: int, end: int) -> bool:
    """t[start:end] lies inside a longer dictionary word of t: 塞纳河 (not 塞拉黑), 拉后腿, 腿肚子 (not 退订子), 那会儿,
    事在人为 (not 真人): found by pushing pypinyin's phrase dictionary through the repair (scripts/audit_intents.py)."""
    for a in range(max(0, start - 4), start + 1):
        for b in range(end, min(len(t), end + 4) + 1):
            if b - a > end - start and _is_word(t[a:b]):
                return True
    return False


def _repair_non_words(t: str) -> str:
    """The sound-alike repair (dialogs/phonetic.py), undone where Whisper had written a real word.

    Whisper's mishearings of the key words are mostly not words (扫扰, 退电, 大找, 连信); a real word in
    their place is usually what was said. Without this, 哪位 ("who is it?") was repaired to 拉黑, 上午 to 删除
    (把我的预约改到上午 → a written opt-out), 图钉/头顶 to 退订, 大老(远) to 打扰. The repair keeps its windows'
    length, so each repaired key word is found in the repaired text and compared with what stood there.
    """
    from callbox.dialogs.phonetic import KEYWORDS, repair

    repaired = repair(t)
    if repaired == t or len(repaired) != len(t):
        return repaired
    out = list(repaired)
    for word in sorted(KEYWORDS, key=len, reverse=True):
        start = repaired.find(word)
        while start >= 0:
            end = start + len(word)
            original = t[start:end]
            if original != word and (_is_word(original) or _inside_word(t, start, end)):
                out[start:end] = list(original)
            start = repaired.find(word, end)
    return "".join(out)


def _classify_zh(t: str) -> Intent:
    # Benign idioms are blanked again after the sound-alike repair: 别大找医生 is repaired to 别打扰医生, which
    # is "don't disturb the doctor", not "don't disturb me".
    benign = ZH_BENIGN.sub("，", _repair_same_sound(_repair_non_words(ZH_BENIGN.sub("，", t))))
    bare = benign.strip("，,.!?;: ")
    # A clear opt-out first: 不要录音，也别再打了 is an opt-out (the call ends; nothing more is recorded).
    opt_out = None
    for match in ZH_OPT_OUT.finditer(benign):  # the surest of its phrases: 我没说要退订，别再打了 is written
        confidence = _zh_opt_out_confidence(benign, match)
        if opt_out is None or confidence > opt_out.confidence:
            opt_out = Intent("opt_out", confidence, match.group(0))
    if opt_out and opt_out.confidence >= CONFIRM_BELOW:
        return opt_out
    if m := _search(ZH_STOP_RECORDING, benign):
        return Intent("stop_recording", 1.0, m)
    if opt_out:
        return opt_out
    for clause in re.split(r"[，,.!?;:]", benign):
        if clause and (m := _search(ZH_OPT_OUT_WEAK, clause)):
            return Intent("opt_out", 0.6, m)
    for pattern, name, confidence in (
        (ZH_HANDOFF, "handoff", 1.0),
        (ZH_CALL_LATER, "call_later", 1.0),
        (ZH_REPEAT, "repeat", 0.9),
        (ZH_OPT_OUT_SOUNDS, "opt_out", 0.6),
        (ZH_KEEP, "consent_yes", 0.8),
        (ZH_NO, "consent_no", 0.9),
        (ZH_QUESTION, "question", 0.7),
    ):
        if m := _search(pattern, benign):
            return Intent(name, confidence, m)
    if benign != t and not bare and ZH_BENIGN.search(t) and re.search(r"不要紧|没关系|不打紧", t):
        return Intent("consent_yes", 0.7, t)  # "没关系" alone: assent
    if m := _search(ZH_YES, ZH_NOT_YES.sub("，", benign)):
        return Intent("consent_yes", 0.9, m)
    if re.search(r"不要紧|没关系|不打紧", t):
        return Intent("consent_yes", 0.7, t)  # "不要紧，你说吧": go on
    return Intent("unknown", 0.3)


def _classify_en(t: str) -> Intent:
    benign = EN_BENIGN.sub(" , ", t)
    opt_out = _en_opt_out(benign)
    if opt_out and opt_out.confidence >= CONFIRM_BELOW:  # a clear opt-out wins over "and don't record this"
        return opt_out
    if m := _search(EN_STOP_RECORDING, benign):
        return Intent("stop_recording", 1.0, m)
    if opt_out:
        return opt_out
    if m := _search(EN_OPT_OUT_WEAK, benign):
        return Intent("opt_out", 0.6, m)
    if handoff := _en_handoff(benign):
        return handoff
    if m := _search(EN_KEEP_CALLING, t):
        return Intent("unknown", 0.5, m)
    for pattern, name, confidence in (
        (EN_CALL_LATER, "call_later", 1.0),
        (EN_REPEAT, "repeat", 0.9),
        (EN_KEEP, "consent_yes", 0.8),
    ):
        if m := _search(pattern, benign):
            return Intent(name, confidence, m)
    rest = benign.strip(" .,!?")
    yes_rest = EN_NOT_YES.sub(" , ", rest)
    if (benign != t and not _search(EN_NO, rest) and EN_ASSENT_IDIOM.search(t)
            and (not rest or _search(EN_YES, yes_rest) or re.search(r"\bmind\b", t))):
        return Intent("consent_yes", 0.8 if rest else 0.7, t)  # "no problem", "don't worry, I'll be there"
    if m := _search(EN_NO, rest):
        return Intent("consent_no", 0.9, m)
    if m := _search(EN_QUESTION, rest):
        return Intent("question", 0.7, m)
    if m := _search(EN_YES, yes_rest):
        return Intent("consent_yes", 0.9, m)
    return Intent("unknown", 0.3)


def classify_hypotheses(text: str, alternatives: tuple[str, ...] | list[str], language: str,
                        spotted: tuple[str, ...] | list[str] = ()) -> Intent:
    """Classify the best transcript, then let the engine's other evidence raise an *unsure* opt-out.

    Why: on a phone line the recogniser often has "stop calling me" as its second guess when its
    first is "start calling me". An opt-out found only in an alternative is never written to the DNC
    list on its own (confidence 0.6): the dialog asks once, so recall rises while a benign reply can
    at worst cause one polite question.

    ``spotted``: opt-out phrases a grammar pass found the audio supports (Whisper phrase scoring,
    voice/phrase_score.py) although free decoding wrote something else ("We meet alone" for "Leave me
    alone"). Same treatment: an unsure opt-out, and only for a phrase these rules read as opt-out.
    """
    best = classify(text, language)
    if best.name in ("opt_out", "stop_recording", "handoff"):
        return best
    for alternative in (*alternatives, *spotted):
        other = classify(alternative, language)
        if other.name == "opt_out":
            return Intent("opt_out", min(other.confidence, 0.6), other.matched)
    return best


# Canonical ways to say "stop calling me", for the Whisper grammar pass (voice/phrase_score.py): short,
# in the words people use, each one an opt-out by the rules above (tests/unit/test_intents.py). Written
# from how people say it, not from the evaluation set; a phrase only counts when the audio supports it
# about as well as the free transcript.
SPOT_PHRASES = {
    "zh": ("不要再打了", "别再打了", "别打了", "不要打电话了", "别给我打电话", "不要再给我打电话了", "以后不要打了", "别再打来了",
           "不要骚扰我", "别骚扰我了", "不要打扰我", "把我的号码删了", "退订", "免打扰", "拉黑我", "我要投诉你们", "不要再联系我",
           "别再来电了",
           # November 2026: the opt-outs of the Vosk list (GRAMMAR below), the commonest core with the words people
           # put before it (你们 / 请: the pass scores a phrase from the start of the turn, so a prefix must be in
           # the phrase), and the other ways to say it (拨打, 不想接, 黑名单).
           "不要打了", "以后别打了", "你们别再打了", "请不要再打了", "别再打电话了", "请停止拨打我的电话", "我不想接你们的电话",
           "把我加入黑名单"),
    "en": ("Stop calling me.", "Don't call me again.", "Don't call me anymore.", "Do not call me.", "Leave me alone.",
           "Take me off your list.", "Remove me from your list.", "Unsubscribe.", "Opt out.", "Stop bothering me.",
           "Stop contacting me.", "Quit calling me.", "No more calls.", "Delete my number.",
           "Put me on the do not call list.", "Stop harassing me.", "Don't contact me."),
}


# Phrases for keyword-spotting engines (Vosk grammar mode): what a callee says to the box, short.
GRAMMAR = {
    "zh": ("不要再打了", "别再打了", "别打了", "不要打了", "以后别打了", "退订", "免打扰", "同意", "不同意", "可以", "不可以",
           "好的", "是", "是的", "不是", "确认", "不要录音", "转人工", "人工", "再说一遍", "没听清", "晚点再打", "没关系", "不要紧"),
    "en": ("stop calling me", "don't call me again", "do not call", "take me off your list", "unsubscribe", "leave me alone",
           "yes", "no", "okay", "sure", "i agree", "no problem", "confirm", "stop recording", "real person", "operator",
           "repeat", "call me later", "not now", "stop", "wait"),
}


def grammar_phrases(language: str) -> tuple[str, ...]:
    return GRAMMAR.get(language, ())
