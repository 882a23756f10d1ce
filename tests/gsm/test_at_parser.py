"""The pure AT parser: examples, then hypothesis fuzzing (random bytes, random chunking, URC interleaving)."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from callbox.lines.at import (
    AtParser,
    Prompt,
    Response,
    Stray,
    Urc,
    format_cclk,
    parse_cclk,
    response_prefix,
    split_fields,
    ucs2_decode,
    ucs2_encode,
)
from callbox.lines.gsm_profiles import PROFILES
from callbox.lines.gsm_sms import cmgl_indexes, is_opt_out_text, parse_cmgr
from callbox.lines.gsm_urc import CallConnected, DtmfKey, IncomingRing, SimRemoved, interpret_urc


def feed_all(parser: AtParser, chunks) -> list:
    events = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def test_reply_with_info_line_and_ok():
    p = AtParser()
    p.begin("AT+CSQ")
    events = p.feed(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n")
    assert events == [Response("AT+CSQ", True, "OK", ("+CSQ: 20,99",))]


def test_echo_is_dropped_and_urc_inside_reply_is_reported_in_order():
    p = AtParser()
    p.begin("AT+COPS?")
    events = p.feed(b'AT+COPS?\r\r\n+COPS: 0,0,"CMCC",7\r\n\r\nRING\r\n\r\nOK\r\n')
    assert events == [Urc("RING"), Response("AT+COPS?", True, "OK", ('+COPS: 0,0,"CMCC",7',))]


def test_cme_error_is_an_error_response():
    p = AtParser()
    p.begin("AT+CPIN?")
    (event,) = p.feed(b"\r\n+CME ERROR: SIM not inserted\r\n")
    assert isinstance(event, Response) and not event.ok and event.error == "+CME ERROR: SIM not inserted"


def test_call_progress_code_ends_dial_and_is_also_a_urc():
    p = AtParser()
    p.begin("ATD123;")
    assert p.feed(b"\r\nBUSY\r\n") == [Urc("BUSY"), Response("ATD123;", False, "BUSY", ())]


def test_call_progress_code_during_other_command_is_only_a_urc():
    p = AtParser()
    p.begin("AT+CSQ")
    events = p.feed(b"\r\nNO CARRIER\r\n\r\n+CSQ: 5,99\r\n\r\nOK\r\n")
    assert events == [Urc("NO CARRIER"), Response("AT+CSQ", True, "OK", ("+CSQ: 5,99",))]


def test_sms_body_that_looks_like_a_urc_stays_in_the_reply():
    p = AtParser()
    p.begin("AT+CMGR=1")
    events = p.feed(b'\r\n+CMGR: "REC UNREAD","+8613800000000","","26/03/02,10:00:00+32"\r\nRING\r\n\r\nOK\r\n')
    assert events == [Response("AT+CMGR=1", True, "OK", ('+CMGR: "REC UNREAD","+8613800000000","","26/03/02,10:00:00+32"', "RING"))]


def test_prompt_without_line_end():
    p = AtParser()
    p.begin('AT+CMGS="123"', expect_prompt=True)
    assert p.feed(b"\r\n> ") == [Prompt()]
    assert p.feed(b"\r\n+CMGS: 7\r\n\r\nOK\r\n") == [Response('AT+CMGS="123"', True, "OK", ("+CMGS: 7",))]


def test_partial_lines_and_garbage_prefix():
    p = AtParser()
    assert p.feed(b"\x00\xff\xfeRI") == []
    assert p.feed(b"NG\r") == [Urc("RING")]
    assert p.feed(b"\n") == []


def test_unsolicited_ok_is_stray_and_unknown_line_is_unknown_urc():
    p = AtParser()
    assert p.feed(b"\r\nOK\r\n\r\nHELLO\r\n") == [Stray("OK"), Urc("HELLO", known=False)]


def test_overlong_garbage_is_dropped():
    p = AtParser()
    events = p.feed(b"x" * 5000)
    assert len(events) == 1 and isinstance(events[0], Stray)
    assert p.feed(b"\r\nRING\r\n") == [Urc("RING")]


def test_payload_helpers():
    assert response_prefix("AT+CSQ") == "+CSQ" and response_prefix("AT+COPS?") == "+COPS"
    assert response_prefix("ATD123;") is None and response_prefix("AT^DSCI=1") == "^DSCI"
    assert split_fields('0,0,"CHINA, MOBILE",7') == ["0", "0", "CHINA, MOBILE", "7"]
    assert ucs2_decode(ucs2_encode("退订 TD")) == "退订 TD" and ucs2_decode("10086") == "10086"
    at = datetime(2026, 3, 2, 2, 0, 0, tzinfo=timezone.utc)
    assert format_cclk(at, 32) == '"26/03/02,10:00:00+32"'
    assert parse_cclk(format_cclk(at, 32)) == at
    assert parse_cclk('"26/03/01,20:00:00-20"') == datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)


def test_urc_interpretation_per_model():
    sim, ec = PROFILES["sim7600"], PROFILES["ec25"]
    assert interpret_urc("+RXDTMF: 5", sim) == DtmfKey("5")
    assert interpret_urc("+QTONEDET: 35", ec) == DtmfKey("#")
    assert interpret_urc("VOICE CALL: BEGIN", sim) == CallConnected()
    assert interpret_urc('+CLIP: "13800138000",129,"",0,"",0', sim) == IncomingRing("13800138000")
    assert interpret_urc("^DSCI: 1,0,0,0,10086,129", ec) == CallConnected()
    assert isinstance(interpret_urc("+SIMCARD: REMOVAL", sim), SimRemoved)


def test_opt_out_words():
    for text in ("退订", "回复TD", "td", "ＴＤ", "Stop", "please STOP calling", "不要再打了 退订谢谢"):
        assert is_opt_out_text(text), text
    for text in ("Acme Ltd", "stopwatch", "see you tomorrow", ""):
        assert not is_opt_out_text(text), text


# -- fuzzing ---------------------------------------------------------------------------------

CALL_URCS = [
    "RING",
    '+CLIP: "13800138000",129,"",0,"",0',
    "VOICE CALL: BEGIN",
    "VOICE CALL: END: 000012",
    "NO CARRIER",
    "BUSY",
    "NO ANSWER",
    "+CLCC: 1,0,3,0,0,\"10086\",129",
    "MISSED_CALL: 10:00AM 10086",
    "^DSCI: 1,0,0,0,10086,129",
]
OTHER_URCS = ['+CMTI: "SM",3', "+RXDTMF: 7", "+CREG: 1", "SMS DONE", "+CPIN: READY"]
COMMANDS = [
    ("AT+CSQ", ["+CSQ: 21,99"]),
    ("AT+COPS?", ['+COPS: 0,0,"CHINA MOBILE",7']),
    ("ATI", ["Manufacturer: SIMCOM INCORPORATED", "Model: SIMCOM_SIM7600G-H"]),
    ("AT+CCLK?", ['+CCLK: "26/03/02,10:00:00+32"']),
    ("AT", []),
]
# Line noise: control bytes and bytes that can never start valid UTF-8 (so noise cannot spell text).
NOISE_BYTES = [c for c in range(256) if c < 0x09 or 0x0E <= c < 0x20 or c == 0x7F or 0x80 <= c < 0xC2 or c > 0xF4]
NOISE = st.lists(st.sampled_from(NOISE_BYTES), min_size=1, max_size=8).map(bytes)


def split_stream(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks, last = [], 0
    for point in points + [len(data)]:
        chunks.append(data[last:point])
        last = point
    return chunks


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(min_value=0, max_value=600), max_size=20), st.booleans())
def test_random_bytes_never_crash(data, cuts, pending):
    p = AtParser(extra_urc_prefixes=("+QTONEDET:",))
    if pending:
        p.begin('AT+CMGS="1"', expect_prompt=True)
    for event in feed_all(p, split_stream(data, cuts)):
        assert isinstance(event, (Urc, Response, Prompt, Stray))


@st.composite
def session(draw):
    """A valid modem session: command replies with URCs (and noise lines) between and inside them."""
    steps = draw(st.lists(st.tuples(st.sampled_from(COMMANDS), st.booleans()), min_size=1, max_size=6))
    script = []  # (kind, value): ("cmd", (command, lines, ok)) / ("bytes", b)
    urcs_sent: list[str] = []
    for (command, lines), ok in steps:
        wire = b""
        if draw(st.booleans()):
            wire += command.encode() + b"\r"  # echo
        for line in lines:
            if draw(st.booleans()):
                urc = draw(st.sampled_from(CALL_URCS + OTHER_URCS))
                urcs_sent.append(urc)
                wire += f"\r\n{urc}\r\n".encode()
            if draw(st.booleans()):
                wire += draw(NOISE) + b"\r\n"
            wire += f"\r\n{line}\r\n".encode()
        for urc in draw(st.lists(st.sampled_from(CALL_URCS + OTHER_URCS), max_size=3)):
            urcs_sent.append(urc)
            wire += draw(st.sampled_from([b"", b"\x00\xff"])) + f"\r\n{urc}\r\n".encode()
        wire += b"\r\nOK\r\n" if ok else b"\r\n+CME ERROR: operation not allowed\r\n"
        script.append((command, tuple(lines), ok, wire))
    return script, urcs_sent


@settings(max_examples=200, deadline=None)
@given(session(), st.lists(st.integers(min_value=0, max_value=2000), max_size=40))
def test_chunking_and_interleaving_never_lose_or_reorder_urcs(sess, cuts):
    script, urcs_sent = sess
    p = AtParser()
    urcs: list[str] = []
    responses: list[Response] = []
    for command, lines, ok, wire in script:
        p.begin(command)
        for event in feed_all(p, split_stream(wire, cuts)):
            if isinstance(event, Urc):
                urcs.append(event.text)
            elif isinstance(event, Response):
                responses.append(event)
        assert p.pending is None, f"reply to {command} not completed"
    assert urcs == urcs_sent
    assert [(r.command, r.lines, r.ok) for r in responses] == [(c, ls, ok) for c, ls, ok, _ in script]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(CALL_URCS), min_size=1, max_size=15), st.lists(st.integers(0, 1000), max_size=30))
def test_call_state_urcs_survive_any_split_without_a_command(urcs, cuts):
    wire = b"".join(f"\r\n{u}\r\n".encode() for u in urcs)
    p = AtParser()
    got = [e.text for e in feed_all(p, split_stream(wire, cuts)) if isinstance(e, Urc)]
    assert got == urcs


def test_cmgl_bodies_stay_in_the_reply():
    p = AtParser()
    p.begin('AT+CMGL="ALL"')
    events = p.feed(b'\r\n+CMGL: 1,"REC UNREAD","10086","",\r\nRING\r\n+CMGL: 2,"REC READ","10010","",\r\nNO\r\n\r\nOK\r\n')
    (response,) = events
    assert response.lines[1] == "RING" and response.lines[3] == "NO"
    assert cmgl_indexes(response.lines) == [1, 2]


def test_cmgr_reply_gives_sender_and_text():
    lines = ('+CMGR: "REC UNREAD","' + ucs2_encode("+8613800138001") + '","","26/03/02,10:00:00+32"',
             ucs2_encode("退订"), ucs2_encode("谢谢"))
    assert parse_cmgr(lines) == ("+8613800138001", "退订\n谢谢")
    assert parse_cmgr(("+CMS ERROR: 321",)) is None


def test_names_from_before_the_split_still_import_from_gsm():
    from callbox.lines import gsm

    assert gsm.interpret_urc is interpret_urc and gsm.is_opt_out_text is is_opt_out_text and gsm.PROFILES is PROFILES
    assert all(hasattr(gsm, name) for name in gsm.__all__)
