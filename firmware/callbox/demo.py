"""``callbox demo``: the whole product on one machine, no hardware, no configuration.

It creates a fresh data directory with a sample clinic and sample contacts, starts the box with one
SIP line on 127.0.0.1, starts the virtual phone bank (a separate process of pjsua2 endpoints that
answer as scripted callees with synthesized speech and RFC 2833 DTMF), and runs an appointment
reminder campaign. The five behaviours the box guarantees are visible in the live table and the
summary: a consented call with recording consent, a spoken and a DTMF opt-out, a contact without
consent, a number on the do-not-call list, and a callee in quiet hours.

The demo's clock starts at ``--at`` (default: today 10:00 in Shanghai) and then runs in real time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from callbox.clock import OffsetClock
from callbox.compliance.numbers import display
from callbox.daemon import CallBox, ContactResult
from callbox.lines.base import LineEvent
from callbox.phonebank.callees import Act, Callee
from callbox.provision import init_box
from callbox.store import queries

DEMO_PASSPHRASE = "demo passphrase - not for production"
ORG_NAME = "阳光口腔诊所"
ORG_NAME_EN = "Sunshine Dental Clinic"
ORG_CALLBACK = "+862161234567"


@dataclass(frozen=True)
class DemoContact:
    phone: str
    name: str
    language: str
    consent: bool
    on_dnc: bool
    appointment: str
    story: str
    callee: Callee | None


def demo_contacts() -> list[DemoContact]:
    """The sample contacts and how each behaves when called."""
    return [
        DemoContact(
            "+8613800138001", "王芳", "zh", True, False, "明天上午十点",
            "consents to recording (DTMF 1), confirms by voice",
            Callee("+8613800138001", "zh", "王芳", acts=(
                Act(box_pause_ms=900, dtmf="1"),
                Act(box_pause_ms=900, say="好的，我会准时到。"),
            )),
        ),
        DemoContact(
            "+8613900138002", "Emily Chen", "en", True, False, "tomorrow at 3 p.m.",
            "interrupts the prologue: \"stop calling me\"",
            # If the box was unsure what it heard over its own prompt (an onset clipped by the echo guard),
            # it asks "Do you want us to stop calling you?" and Emily answers, as a person would; if it was
            # sure, it has confirmed and hung up before this second act could fire.
            Callee("+8613900138002", "en", "Emily Chen", acts=(Act(box_spoke_ms=10500, say="Stop calling me, please."),
                                                               Act(box_pause_ms=900, say="Yes, stop calling me."))),
        ),
        DemoContact(
            "+8613500138005", "陈静", "zh", True, False, "后天下午两点",
            "presses 9 during the prologue",
            Callee("+8613500138005", "zh", "陈静", acts=(Act(box_spoke_ms=9500, dtmf="9"),)),
        ),
        DemoContact("+8613700138003", "李强", "zh", False, False, "明天上午十点", "no consent on record", None),
        DemoContact("+8613600138004", "赵敏", "zh", True, True, "明天上午十点", "on the do-not-call list", None),
        DemoContact(
            "+12127365000", "John Smith", "en", True, False, "tomorrow at 9 a.m.",
            "lives in New York: 21:00 there (quiet hours)", None,
        ),
    ]


def default_start() -> datetime:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    return datetime.combine(today, datetime.min.time().replace(hour=10), tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(timezone.utc)


class PhoneBankProcess:
    """The phone bank as a child process speaking JSON lines on stdout."""

    def __init__(self, callees: list[Callee], workdir: Path, cache: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        config = workdir / "callees.json"
        config.write_text(json.dumps([c.to_json() for c in callees], ensure_ascii=False), encoding="utf-8")
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "callbox.phonebank", "--config", str(config), "--out", str(workdir), "--cache", str(cache)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True,
        )
        self.reports: dict[str, dict] = {}
        self.port = 0
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except json.JSONDecodeError:
                continue
            if msg.get("event") == "ready":
                self.port = msg["port"]
                self._ready.set()
            elif msg.get("event") == "call_done":
                self.reports[msg["number"]] = msg
        self._ready.set()

    def wait_ready(self, timeout: float = 120) -> int:
        if not self._ready.wait(timeout) or not self.port:
            raise RuntimeError("the phone bank did not start; run `python -m callbox.phonebank --help` to see why")
        return self.port

    def wait_report(self, number: str, timeout: float = 10) -> dict | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if number in self.reports:
                return self.reports[number]
            time.sleep(0.05)
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(15)
            except Exception:
                self.proc.kill()


class LiveView:
    """The table a person watches while the demo runs."""

    STATUS_STYLE = {"allowed": "green", "denied": "red", "deferred": "yellow"}

    def __init__(self, contacts: list[DemoContact]) -> None:
        self.contacts = contacts
        self.rows = {c.phone: {"state": "waiting", "detail": ""} for c in contacts}
        self.lines: dict[str, str] = {}
        self.lock = threading.Lock()

    def line_event(self, event: LineEvent) -> None:
        with self.lock:
            self.lines[event.line_id] = f"{event.state.value} {event.detail}".strip()

    def call_event(self, number: str, kind: str, data: dict) -> None:
        with self.lock:
            row = self.rows.setdefault(number, {"state": "", "detail": ""})
            if kind in ("denied", "deferred"):
                row.update(state=kind, detail=", ".join(data.get("reasons", [])))
            elif kind == "dialing":
                row.update(state="dialing", detail="")
            elif kind == "answered":
                row.update(state="in call", detail="")
            elif kind == "say":
                row.update(detail=f"box: {data['text'][:48]}")
            elif kind == "heard":
                row.update(detail=f"heard: {data['text'][:40]} → {data['intent']}")
            elif kind == "dtmf":
                row.update(detail=f"DTMF {data['digit']}")
            elif kind == "opt_out":
                row.update(state="opt-out", detail=f"written to do-not-call ({data['source']})")
            elif kind == "barge_in":
                row.update(detail="callee spoke: prompt stopped")
            elif kind == "ended":
                row.update(state="done", detail=data.get("outcome", ""))

    def render(self) -> Group:
        lines = Table(title="Lines", expand=False)
        lines.add_column("line")
        lines.add_column("state")
        with self.lock:
            for line_id, state in self.lines.items():
                lines.add_row(line_id, state)
            calls = Table(title="Calls", expand=True)
            for col in ("contact", "number", "state", "detail"):
                calls.add_column(col)
            for c in self.contacts:
                row = self.rows[c.phone]
                calls.add_row(c.name, display(c.phone), row["state"], row["detail"])
        return Group(lines, calls)


def first_audio_ms(report: dict) -> int | None:
    """From the phone bank's report: answer → first frame of box speech, as the callee heard it."""
    answered = next((e["t_ms"] for e in report.get("events", []) if e["event"] == "answered"), None)
    onsets = [t for t in report.get("box_speech_onsets_ms", [])]
    if answered is None or not onsets:
        return None
    # Onsets are counted from media start, which follows the answer within a frame or two.
    return onsets[0]


def summary_table(results: list[ContactResult], rechecks: dict[str, str]) -> Table:
    table = Table(title="Summary", expand=True)
    for col in ("contact", "decision", "reasons", "dialed", "AI disclosed", "recording", "opt-out", "outcome"):
        table.add_column(col)
    for r in results:
        style = LiveView.STATUS_STYLE.get(r.decision, "")
        reasons = ", ".join(r.reasons) + (f" (next {r.next_allowed_at})" if r.next_allowed_at else "")
        outcome = r.outcome + (f"; re-check: {rechecks[r.phone]}" if r.phone in rechecks else "")
        table.add_row(
            f"{r.name} {display(r.phone)}", f"[{style}]{r.decision}[/]", reasons, "yes" if r.dialed else "no",
            "yes" if r.ai_disclosed else "-", r.recording, "yes" if r.opt_out else "-", outcome,
        )
    return table


def start_panel(data_dir: Path, clock, console: Console):
    """Serve the admin panel on http://127.0.0.1:8080 while the demo runs (another port if taken)."""
    try:
        import callbox_web
    except ImportError:
        console.print("  (admin panel not installed: pip install -e . from the repository)")
        return None
    for port in (8080, 0):
        try:
            stop = callbox_web.serve(data_dir, "127.0.0.1", port, clock=clock, in_thread=True)
        except OSError:
            continue
        bound = getattr(stop, "port", port)
        console.print(f"  admin panel: http://127.0.0.1:{bound}  (first visit asks for the setup code in "
                      f"{data_dir / 'setup-code.txt'})", soft_wrap=True)
        return stop
    return None


def run_demo(data_dir: Path, start: datetime | None = None, summary_json: Path | None = None,
             console: Console | None = None, keep: bool = False) -> list[ContactResult]:
    console = console or Console()
    t_begin = time.monotonic()
    data_dir = Path(data_dir)
    if data_dir.exists() and not keep:
        shutil.rmtree(data_dir)
    clock = OffsetClock(start or default_start())
    contacts = demo_contacts()
    console.print(f"[bold]callbox demo[/] — data in {data_dir}, box clock starts at "
                  f"{clock.now().astimezone(ZoneInfo('Asia/Shanghai')).isoformat(timespec='minutes')}")

    store = init_box(data_dir, clock, "cn", ORG_NAME, ORG_CALLBACK, "Asia/Shanghai", "medical", ORG_NAME_EN)
    from callbox.recordings.keystore import KeyStore

    KeyStore.for_data_dir(data_dir).init(DEMO_PASSPHRASE)
    for c in contacts:
        contact = queries.add_contact(store, c.phone, c.name, c.language)
        if c.consent:
            queries.add_consent(store, contact, "reminder", clock.now() - timedelta(days=30), "paper_form",
                                evidence=f"form-{c.phone[-4:]}.pdf sha256 demo", collected_by="front desk")
        if c.on_dnc:
            queries.add_dnc(store, c.phone, "staff", "asked at the front desk not to be called", actor="staff")

    box = CallBox(data_dir, clock, store)
    view = LiveView(contacts)
    box.line_listeners.append(view.line_event)
    box.call_listeners.append(view.call_event)
    workdir = Path(tempfile.mkdtemp(prefix="callbox-phonebank-"))
    stop_panel = None
    bank = PhoneBankProcess([c.callee for c in contacts if c.callee], workdir, data_dir.parent / ".demo-cache" / "callee")
    try:
        with console.status("loading voices (TTS zh/en, ASR) and starting the phone bank…"):
            # Fixed prompts are cached beside the demo's data dir, so a second demo run starts at once.
            box.load_voice(cache_dir=data_dir.parent / ".demo-cache" / "prompts")
            port = bank.wait_ready()
        stop_panel = start_panel(data_dir, clock, console)
        from callbox.lines.sip import SipAccountConfig, SipLine

        line = SipLine("sip1", box.authority, SipAccountConfig(user="clinic", peer=f"127.0.0.1:{port}"), log_level=0)
        box.add_line(line)
        line.start()
        campaign = box.create_campaign(
            "demo-reminders", "reminder", "appointment_reminder", records=True,
            members=[{"phone": c.phone, "variables": {"appointment": c.appointment}} for c in contacts],
        )
        results: list[ContactResult] = []
        with Live(view.render(), console=console, refresh_per_second=8, transient=False) as live:
            stop = threading.Event()

            def refresh() -> None:
                while not stop.is_set():
                    live.update(view.render())
                    time.sleep(0.125)

            refresher = threading.Thread(target=refresh, daemon=True)
            refresher.start()
            results = box.run_campaign(campaign)
            stop.set()
            refresher.join()
            live.update(view.render())
        rechecks = {}
        for r in results:
            if r.opt_out:
                verdict = box.gate.check(r.phone, "reminder")
                rechecks[r.phone] = f"{verdict.decision} ({', '.join(verdict.reasons)})"
        console.print(summary_table(results, rechecks))
        for phone, verdict_text in rechecks.items():
            console.print(f"  re-check after the call: {display(phone)} → {verdict_text}: never called again", soft_wrap=True)
        for r in results:
            if r.dialed:
                report = bank.wait_report(r.phone)
                if report:
                    heard_s = report.get("heard_ms", 0) / 1000
                    console.print(f"  {display(r.phone)}: callee heard {heard_s:.1f} s of audio; call setup "
                                  f"{r.call_setup_ms} ms; first audio {first_audio_ms(report)} ms after answer (as heard)")
    finally:
        if stop_panel is not None:
            stop_panel()
        box.close()
        bank.stop()
    if summary_json is not None:
        summary_json.write_text(json.dumps([r.as_json() for r in results], ensure_ascii=False, indent=2), encoding="utf-8")
        console.print(f"summary written to {summary_json}")
    console.print(f"demo finished in {time.monotonic() - t_begin:.1f} s; recordings (encrypted) in {data_dir / 'recordings'}; "
                  f"phone bank audio in {workdir}")
    return results
