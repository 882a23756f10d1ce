#!/usr/bin/env python3
"""Safety audit of the intent rules: push a large body of benign text through them and count false alarms.

A written opt-out (``opt_out`` with confidence >= CONFIRM_BELOW) puts the number on the do-not-call list
without asking: a patient loses their reminders. An unsure one (below CONFIRM_BELOW) costs one question.
This script classifies benign text the way live transcripts reach the classifier and prints counts and
the offending texts, so the next engineer can re-run it after every rule change:

    .venv/bin/python scripts/audit_intents.py --lang en          # sentences + Whisper-style variants + words
    .venv/bin/python scripts/audit_intents.py --lang zh          # pypinyin's phrase dictionary (47,000 words)
    .venv/bin/python scripts/audit_intents.py --lang en --show 40 --no-words

English sources (all offline): BENIGN_EN below, phone replies written for this audit (rescheduling,
questions, "keep calling me", negations, double negatives, quoted speech, statements that mention
calling), each with filler words in front ("oh", "no,", "okay,", "sorry,") and Whisper-style variants
(lower case, no punctuation, one word dropped; the variants are also passed as n-best alternatives to
classify_hypotheses); sentences that must not read as consent_yes / handoff / stop_recording; and every
word of the English dictionary on this machine (pocketsphinx's cmudict, or /usr/share/dict/words), alone
and in a few frames next to alarming words. OPT_OUT_EN is the other side: real opt-out phrasings, whose
recall must not drop. Chinese: every word of pypinyin's phrase dictionary, alone and in two frames.

Exit status 1 if a benign sentence is written as opt-out as said, or a real opt-out is missed (so CI could
run it with --no-words). The dictionary frames are printed for a person to read: some frames make real
opt-outs ("don't {w} me" with call, "stop {w}" with calling), so they do not count toward the exit status.

Numbers of the November 2026 audit (en; before -> after the fixes in dialogs/intents.py): benign sentences
written 57 -> 0 of 332 (asked 1 -> 54); written only with a word dropped 62 -> 23 (ASR errors the rules
cannot see: "don't stop calling me" heard "stop calling me"); negated yes words read as yes 15 -> 0 of 23;
mentions read as handoff 14 -> 0 of 15; other records read as stop_recording 4 -> 0 of 6; real opt-outs
missed 3 -> 0 of 231 spellings; dictionary frames written 124,954 -> 34 (every one a real opt-out phrase;
"take me {w} the list" was written for every one of the 124,911 words). zh: dictionary words written 16 -> 1
(黑名单 itself; 塞纳河 had been repaired to 塞拉黑, 腿肚子 to 退订子), read as handoff 122 -> 3 (事在人为 -> 事真人为).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "firmware"))

from callbox.dialogs.intents import CONFIRM_BELOW, classify, classify_hypotheses  # noqa: E402

# Phone replies that are not opt-outs. Some are hard on purpose (they contain "stop", "call", "don't",
# "list", "number", "alone", "remove", "unsubscribe"): a rule may read them as *unsure* (ask once), never
# as a written opt-out.
BENIGN_EN = """
Yes, that's fine. | Okay, see you on Tuesday. | Can we move it to Thursday? | I need to reschedule.
What time was it again? | Who is this? | Who's calling? | Is this the clinic? | Sorry, who is this please?
Keep calling me. | Keep calling me, it's fine. | Don't stop calling me. | Please don't stop calling.
Never stop calling me, I need the reminders. | Don't ever stop calling me. | I don't want you to stop calling.
I didn't say stop calling. | I never said stop calling me. | I'm not saying don't call. | I didn't say don't call.
My son said stop calling, but I want the reminders. | My son said stop calling. | My wife says don't call her.
He told me to tell you to stop calling him. | The nurse said not to call after six.
Call me back later. | Call me later, I'm driving. | Can you call me back tomorrow? | Why don't you call me tomorrow?
Why don't you call me back in an hour? | Why don't you ring me on Monday? | Why not call my wife instead?
If you don't call me I'll forget. | If you don't call, I'll miss it. | Unless you call me I won't remember.
Who is this? | No, wait. | No, wait, I'm here. | Wait, don't hang up. | Please don't hang up.
I'm busy driving. | I'm busy, I'm driving. | I'm driving, call me later. | I'm at work right now.
Stop, let me grab a pen. | Stop, let me get a pen. | Stop, stop, let me find a pen. | Can you stop and repeat that?
Stop for a second, I need to write this down. | Hold on, stop, I need a pen. | Stop there, say that again.
Stop talking for a second. | Stop, you're going too fast. | Could you stop and say the time again?
Wait, stop, which doctor? | Stop, I can't hear you. | Stop please, what was the date?
I don't call the clinic very often. | I never call on weekends. | I don't call my mother enough.
You don't call often enough. | They don't call me back usually. | I don't contact the doctor directly.
Don't call my husband, call me. | Don't call the landline, call my mobile. | Don't call me before ten.
Don't call me at work. | Don't call me on Sundays. | Don't call me Mrs. Jones, call me Ann.
Don't call me sir. | Don't call me after six, I'm asleep. | Do not call before nine please.
Don't call my work number, use my cell. | Don't ring the house phone, ring my mobile.
Am I on the do not call list? | I'm not on the do not call list, am I? | Take me off the do not call list.
Please take me off the do not call list, I want the reminders. | I was put on the do not call list by mistake.
I don't want to unsubscribe. | How do I unsubscribe from the newsletter? | Don't unsubscribe me.
I don't want to opt out. | Don't opt me out. | I opted out by mistake, please opt me back in.
Can I opt out of the recording? | I'd like to opt in. | Subscribe me to the reminders.
Don't leave me alone, I'm scared of the surgery. | My wife won't leave me alone about this appointment.
Leave me alone for a second, I'm parking. | Leave it alone, the time is fine. | I live alone.
Take me off the waiting list and book me in. | Take me off Tuesday's list and put me on Thursday.
Take me to the front of the list. | Take me through the list. | Take me through the times.
Remove me from the three o'clock slot. | Remove me from the morning list, I prefer afternoons.
Remove my name from the Tuesday list and add it to Friday. | Delete the old appointment.
Please delete my old email from your list. | Remove my old address from your records.
Did you forget my number? | Don't forget my number. | Did you lose my number? | You lost my number last time.
Forget this number, use my new one. | Delete my old number and use this one.
I have no more calls to make today. | No more calls today, I'll see you tomorrow.
No more questions. | No, the calls are fine. | No further questions. | No more appointments this week?
I don't want more calls than needed, but the reminder is fine.
No problem. | No worries. | Not a problem. | Never mind. | Never mind, that's fine. | Don't worry about it.
No, that's okay. | No, it's fine. | No, no, it's fine. | No, I'm still coming.
I don't want to cancel. | Please don't cancel my appointment. | Don't reschedule it. | Keep my appointment.
Stop by the clinic. | I stopped by yesterday. | I'll stop by on Monday. | The bus stop is right outside.
I need to stop taking my pills before the test? | Should I stop eating before the blood test?
Should I stop my medication? | When should I stop drinking water? | Do I stop the tablets the day before?
Stop the medicine two days before? | I stopped taking them already. | Stop eating at midnight, right?
I'll call you back. | I'll call the office tomorrow. | I called yesterday but nobody answered.
Thank you for calling. | Thanks for calling me. | Thanks for the call. | Thanks for the reminder.
Please call me. | Call me anytime. | You can call me on this number. | This number is fine.
My number is the same. | My number changed. | Do you have my new number? | Is this number on your list?
Put me on the list for Monday. | Put me on the waiting list. | Add me to the cancellation list.
Put my name on the list. | Can you put me down for Tuesday? | Add my wife to the appointment.
Please don't record my blood pressure yet. | There's no record of that. | You have no record of my visit?
I don't record my blood sugar every day. | Not recording anything on my end. | The record shows Tuesday.
Did you get my records? | Is this being recorded? | Are you recording this? | Is the call recorded?
Are you a real person? | Is this a real person? | Am I talking to a human? | Are you a robot?
I'm a real person, not a machine. | I'm a person who forgets things. | A nurse told me to come in.
A receptionist called me yesterday. | The operator gave me this number. | I work as a machine operator.
I'm the representative for my mother. | My representative will bring the forms.
I'll talk to the doctor on Tuesday. | I'll speak to the nurse at my appointment. | I already spoke to someone.
I don't need to talk to a person. | No need to transfer me. | I don't want to speak to someone.
I'm not sure. | I'm not sure yet. | Not sure. | I'm not sure that's right. | Absolutely not. | Of course not.
Not okay. | That's not okay. | It's not fine. | That's not correct. | That is not correct. | I can't confirm that.
I can't confirm yet. | I need to confirm with my wife first. | Not really. | Not at all. | Definitely not.
Certainly not. | No, not okay. | That's not right. | Hardly. | I don't think so. | I'm not okay with that.
I'm fine, thanks. How are you? | I don't know. | I don't know yet. | Maybe. | I'll think about it.
Hello? | Hello, who's this? | Yes, speaking. | Speaking. | Who? | Sorry? | Pardon? | What?
What's this about? | What is this regarding? | Which clinic is this? | Which doctor?
Can you repeat that? | Can you say that again, slower? | I didn't catch that. | Say again?
I'm on the bus, can you call later? | I'm in a meeting. | Not a good time. | I can't talk now.
Don't worry, I'll be there. | Do not worry, I will come. | I'll be there at ten. | See you then.
I'll be ten minutes late. | Can I bring my daughter? | Do I need to fast? | Where do I park?
Is it with Doctor Lee? | How long will it take? | How much will it cost? | Do I need my insurance card?
I have a question about my bill. | I have a question. | One question. | Quick question.
I think I have the wrong appointment. | It was supposed to be Wednesday. | That's the wrong day.
I'm not interested in the flu shot, but I'm coming to the appointment.
Stop, that's the wrong day. | Stop, I'll call my wife. | Don't stop, go on. | Go on. | Continue please.
I'm listening. | Go ahead. | Sure, go ahead. | Okay, go ahead and record. | You can record, that's fine.
I'd like the reminder by text instead. | Can you text me instead of calling? | Email me instead.
Just text me next time. | Could you send a letter instead? | I prefer texts to calls.
You called me last week already. | You've called three times today. | Why do you keep calling?
Why did you call me? | Why are you calling? | What are you calling about? | Who gave you my number?
How did you get my number? | Is this a scam? | Are you selling something? | Is this a sales call?
I got a missed call from this number. | Somebody called me from this number.
My phone is about to die. | My battery is low. | You're breaking up. | The line is bad.
I'm hard of hearing, speak up please. | Can you speak louder? | Speak slower please.
Hang on. | Hang on a second. | Hold on. | One moment. | One second. | Just a moment please.
Is Doctor Patel still there? | Is the clinic open on Saturday? | Are you open late?
I'll stop calling you if you stop calling me, ha, no, I'm kidding, keep the reminders.
My mother can't come, she's in hospital. | My son will bring me. | My daughter takes care of this.
My husband handles the appointments, call him. | Please call my daughter instead.
The appointment is for my son, not me. | I'm calling on behalf of my father.
Don't bother, I'll come anyway. | It's no bother. | You're not bothering me. | No bother at all.
Stop worrying, I'll be there. | Stop fussing, I'm coming. | I'll stop at the pharmacy first.
I don't mind the calls. | I don't mind being called. | The calls are helpful. | I like the reminders.
Please keep reminding me. | Keep sending reminders. | I want to keep getting reminders.
I never got a call from you before. | No one called me about this. | Nobody told me.
Nobody should call me before nine. | Don't let them call me before nine.
""".strip()

# Real opt-outs in phrasings the evaluation set does not hold: none may be missed (recall), and the clear
# ones should stay written.
OPT_OUT_EN = """
Stop calling me. | Please stop calling me. | Stop calling me please. | Just stop calling me. | Stop calling.
Don't call me again. | Do not call me again. | Please don't call me anymore. | Don't call me. | Don't call.
Never call me again. | Don't ever call me again. | Don't ever call here again. | Never call this number again.
Take me off your list. | Take me off your calling list. | Remove me from your list. | Remove my number.
Remove my number from your list. | Delete my number. | Lose my number. | Erase my number.
Put me on your do not call list. | Add me to your do not call list. | Do not call list, please.
Unsubscribe. | Unsubscribe me. | I want to unsubscribe. | Opt out. | I want to opt out. | Opt me out.
I don't want any more calls. | No more calls. | No more calls, please. | No more phone calls.
Leave me alone. | Just leave me alone. | Leave me alone, please.
Quit calling me. | Stop bothering me. | Stop harassing me. | Stop contacting me. | Stop phoning me.
Stop ringing me. | Don't contact me again. | I don't want to be contacted. | I do not want you to call me.
Can you stop calling me? | Could you please stop calling me? | Would you stop calling me? | Will you stop calling me?
I said stop calling me. | I told you to stop calling me. | I told you, don't call me again.
I'm not interested, stop calling. | No, stop calling me. | No thanks, don't call me again.
I don't care, stop calling me. | Stop calling me, I'm not interested. | Okay, stop calling me now.
Take this number off your list. | Please remove me from your calling list. | Stop calling this number.
Don't call this number again. | Don't call this number. | Do not contact me. | Please don't contact me.
Stop calling me or I'll report you. | Stop calling, I'm not interested. | Stop texting and calling me.
Don't call me again or I'll report you. | Don't call me, I'm not interested. | Don't call me and don't text me.
Don't call me I'm not interested. | Don't ever call me again! | Do not call me ever again. | Never ever call me again.
""".strip()

# Sentences in BENIGN_EN that must not be read as these intents (what the rule *does* act on).
NOT_YES_EN = """I'm not sure. | I'm not sure yet. | Not sure. | I'm not sure that's right. | Absolutely not. | Of course not.
Not okay. | That's not okay. | It's not fine. | That's not correct. | That is not correct. | I can't confirm that.
I can't confirm yet. | Definitely not. | Certainly not. | No, not okay. | I'm not okay with that. | Never mind.
Wait, don't hang up. | Please don't hang up. | No, wait. | Stop, stop, let me find a pen. | Don't stop calling me.
I didn't say yes. | I never said yes. | I did not say you could. | I never agreed. | I don't think so. | Yeah, no.
I'd prefer not. | I'm not okay with being recorded. | I won't be there. | I'm not coming. | Probably not.
I might not make it. | I can't be there on time."""
NOT_HANDOFF_EN = """Are you a real person? | Is this a real person? | I'm a real person, not a machine. | I'm a person who forgets things.
A nurse told me to come in. | A receptionist called me yesterday. | The operator gave me this number.
I work as a machine operator. | I'm the representative for my mother. | My representative will bring the forms.
I'll talk to the doctor on Tuesday. | I'll speak to the nurse at my appointment. | I don't need to talk to a person.
No need to transfer me. | I don't want to speak to someone."""
NOT_STOP_RECORDING_EN = """Please don't record my blood pressure yet. | There's no record of that. | You have no record of my visit?
I don't record my blood sugar every day. | The record shows Tuesday. | Did you get my records?"""

# Chinese replies that hold an opt-out word the callee does not ask for: negated, denied, reported or asked
# about (issue #5: 我不想退订 and 不要把我加入黑名单 were written). Asked once at most, never written.
BENIGN_ZH = """
我不想退订 | 我没说要退订 | 我没有说要退订 | 不是要退订，我想改时间 | 谁说我要退订了 | 我才不退订呢 | 别把我拉黑 | 不要把我加入黑名单
我不要退订，我还要来看牙 | 我儿子说要退订 | 我老公说把我的号码删了 | 我是不是在黑名单里？ | 我在你们的黑名单上吗
我不是说不要再打了 | 我没说别打了 | 我不是要投诉你们 | 我没有拉黑你们 | 别删我的号码 | 不要删除我的预约 | 我不想投诉，就是问问
""".strip()

# Chinese replies that hold a yes word (好, 对, 是, 行, 同意, 可以) and do not say yes: negated, denied or a
# misheard verb. Each read as consent_yes 0.9 before November 2026 — a recording started on 我不太同意.
NOT_YES_ZH = """
不太好 | 不好吧 | 我觉得不好 | 不是的 | 不对吧 | 不太行 | 我不太同意 | 没同意 | 我没同意录音 | 不是很好 | 不怎么好
我没说可以 | 我没答应 | 不太方便 | 行一下，我找个笔 | 好一下 | 不太愿意 | 不是很方便 | 我不太确认 | 不一定能来
我不记得了 | 不能准时 | 我不能准时到 | 我来不及 | 不知道了
""".strip()

# Real Chinese opt-outs in many phrasings: none may be missed.
OPT_OUT_ZH = """
不要再打了 | 别再打了 | 以后别打了 | 退订 | 我要退订 | 帮我退订 | 把我拉黑吧 | 把我加入黑名单 | 把我的号码删了
不要再给我打电话了 | 请不要再打电话来了 | 我不想再接到你们的电话 | 别再骚扰我了 | 不要打扰我 | 我要投诉你们 | 再打我就投诉
免打扰 | 取消订阅 | 不需要了，帮我退订 | 我不需要，以后别打了 | 拒绝接听你们的电话 | 把我从名单里删掉 | 请勿来电
以后不要联系我了 | 烦死了，别打了 | 我没说要退订，别再打了 | 能不能别再打了
""".strip()

FILLERS_EN = ("", "oh, ", "um ", "no, ", "okay, ", "sorry, ", "well, ", "yes, ")

# Frames for dictionary words: each puts a word where a rule looks for a key word.
FRAMES_EN = ("{w}", "{w}.", "stop {w}", "stop, {w}", "don't {w} me", "please don't {w}", "no {w}", "i'm not {w}",
             "take me {w} the list", "{w} my number", "leave me {w}", "a {w} person", "{w} recording",
             "i {w} record", "not {w}", "{w} calling me")
FRAMES_ZH = ("{w}", "{w}了", "我{w}", "好的，{w}")


def _split(block: str) -> list[str]:
    return [s.strip() for s in re.split(r"\||\n", block) if s.strip()]


def whisper_variants(text: str) -> tuple[list[str], list[str]]:
    """How Whisper may write the same words: (as said: lower case, no punctuation, a question mark;
    with one word dropped)."""
    bare = re.sub(r"[^\w' ]+", "", text.lower()).strip()
    said = list(dict.fromkeys(v for v in (text, text.lower(), bare, text.rstrip(".!?") + "?") if v))
    words = bare.split()
    dropped = [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))] if 3 <= len(words) <= 14 else []
    return said, [v for v in dict.fromkeys(dropped) if v not in said]


def english_words(limit: int = 0) -> tuple[list[str], str]:
    """Every word of an English dictionary on this machine (none is downloaded)."""
    candidates = [Path("/usr/share/dict/words"), Path("/usr/share/dict/american-english")]
    try:
        import pocketsphinx

        candidates.append(Path(pocketsphinx.__file__).parent / "model" / "en-us" / "cmudict-en-us.dict")
    except ImportError:
        pass
    for path in candidates:
        if path.exists():
            words = sorted({re.sub(r"\(\d+\)$", "", line.split()[0]).lower()
                            for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()})
            words = [w for w in words if re.fullmatch(r"[a-z][a-z']*", w)]
            return (words[:limit] if limit else words), str(path)
    return [], "none"


def _verdict(intent) -> str:
    if intent.name != "opt_out":
        return intent.name
    return "WRITTEN" if intent.confidence >= CONFIRM_BELOW else "asked"


def audit_sentences(lang: str, benign: list[str], show: int) -> Counter:
    """Each sentence with fillers, as said (4 spellings; the other spellings are its n-best alternatives)
    and with one word dropped (the recogniser lost it: "don't stop calling me" -> "stop calling me")."""
    counts: Counter = Counter()
    found: dict[str, dict[str, str]] = {"written": {}, "asked": {}, "dropped": {}}
    texts = dropped = 0
    for sentence in benign:
        for filler in FILLERS_EN if lang == "en" else ("",):
            base = filler + (sentence[0].lower() + sentence[1:] if filler else sentence)
            said, dropped_words = whisper_variants(base)
            for i, best in enumerate(said):
                texts += 1
                verdict = _verdict(classify_hypotheses(best, said[:i] + said[i + 1:], lang, ()))
                if verdict in ("WRITTEN", "asked"):
                    found["written" if verdict == "WRITTEN" else "asked"].setdefault(sentence, best)
            for variant in dropped_words:
                dropped += 1
                if _verdict(classify(variant, lang)) == "WRITTEN":
                    found["dropped"].setdefault(sentence, variant)
    counts.update(sentences=len(benign), texts=texts, dropped_texts=dropped,
                  **{k: len(v) for k, v in found.items()})
    print(f"benign sentences: {len(benign)}, {texts} texts as said (with fillers, 4 spellings), "
          f"{dropped} with one word dropped")
    titles = {"written": "WRITTEN opt-out as said (no question asked)", "asked": "asked once as said (unsure opt-out)",
              "dropped": "written only with a word dropped (an ASR error the text rules cannot see)"}
    for key, title in titles.items():
        print(f"  {title}: {len(found[key])} sentences")
        for s, v in list(found[key].items())[:show]:
            print(f"    {s!r}  as  {v!r}  -> {classify(v, lang)}")
    return counts


def audit_not(lang: str, label: str, intent: str, sentences: list[str], show: int) -> int:
    wrong = [(s, classify(s, lang)) for s in sentences if classify(s, lang).name == intent]
    print(f"{label}: {len(wrong)} of {len(sentences)} read as {intent}")
    for s, i in wrong[:show]:
        print(f"    {s!r} -> {i}")
    return len(wrong)


def audit_opt_outs(lang: str, phrases: list[str], show: int) -> tuple[int, int]:
    missed, unsure = [], []
    for phrase in phrases:
        for variant in whisper_variants(phrase)[0][:3]:  # as said, lower case, no punctuation
            intent = classify(variant, lang)
            if intent.name != "opt_out":
                missed.append((variant, intent))
            elif intent.confidence < CONFIRM_BELOW:
                unsure.append(variant)
    print(f"real opt-outs: {len(phrases)} phrasings x 3 spellings: missed {len(missed)}, asked {len(unsure)}")
    for v, i in missed[:show]:
        print(f"    MISSED {v!r} -> {i}")
    for v in unsure[:show]:
        print(f"    asked {v!r}")
    return len(missed), len(unsure)


def audit_words(lang: str, words: list[str], frames: tuple[str, ...], source: str, show: int) -> int:
    by: dict[str, list[str]] = {}
    n = 0
    for frame in frames:
        for w in words:
            text = frame.format(w=w)
            n += 1
            verdict = _verdict(classify(text, lang))
            if verdict in ("WRITTEN", "asked", "stop_recording", "handoff"):
                by.setdefault(f"{verdict:>14} {frame!r}", []).append(w)
    print(f"dictionary words: {len(words)} from {source}, in {len(frames)} frames: {n} texts")
    written = 0
    for key, hits in sorted(by.items()):
        if key.strip().startswith("WRITTEN"):
            written += len(hits)
        print(f"  {key}: {len(hits)}  e.g. {', '.join(hits[:show])}")
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lang", choices=("en", "zh", "both"), default="both")
    parser.add_argument("--show", type=int, default=12, help="examples printed per finding")
    parser.add_argument("--no-words", action="store_true", help="skip the dictionary words (the slow part)")
    parser.add_argument("--words", type=int, default=0, help="only the first N dictionary words")
    args = parser.parse_args()
    bad = 0
    if args.lang in ("en", "both"):
        print("== en ==")
        counts = audit_sentences("en", _split(BENIGN_EN), args.show)
        bad += counts["written"]
        bad += audit_not("en", "not a yes", "consent_yes", _split(NOT_YES_EN), args.show)
        audit_not("en", "not a request for a person", "handoff", _split(NOT_HANDOFF_EN), args.show)
        audit_not("en", "not about this call's recording", "stop_recording", _split(NOT_STOP_RECORDING_EN), args.show)
        missed, _ = audit_opt_outs("en", _split(OPT_OUT_EN), args.show)
        bad += missed
        if not args.no_words:
            words, source = english_words(args.words)
            audit_words("en", words, FRAMES_EN, source, args.show)  # frames make real opt-outs too: read, not counted
    if args.lang in ("zh", "both"):
        print("== zh ==")
        counts = audit_sentences("zh", _split(BENIGN_ZH), args.show)
        bad += counts["written"]
        bad += audit_not("zh", "not a yes", "consent_yes", _split(NOT_YES_ZH), args.show)
        missed, _ = audit_opt_outs("zh", _split(OPT_OUT_ZH), args.show)
        bad += missed
        try:
            from pypinyin.phrases_dict import phrases_dict
        except ImportError:
            print("pypinyin not installed: no Chinese dictionary to audit")
        else:
            words = sorted(phrases_dict)[: args.words or None]
            audit_words("zh", words, FRAMES_ZH if not args.no_words else ("{w}",), "pypinyin phrases_dict", args.show)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
