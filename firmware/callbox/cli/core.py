"""Core commands: init, demo, run. (Compliance commands live in ``callbox.cli.compliance``.)"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from callbox.cli import EXIT_OK, UsageError
from callbox.cli.common import instant, open_box, refused
from callbox.clock import SystemClock


def _clock(args: argparse.Namespace):
    return SystemClock()


# -- init ----------------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from callbox.provision import ProvisionError, init_box

    with refused(ProvisionError):
        store = init_box(args.data, _clock(args), args.rules, args.org_name, args.callback_number, args.timezone,
                         args.industry, args.org_name_en or "")
    org = store.organisation()
    print(f"initialised {args.data}: {org.name}, rules {org.rules}, callback {org.callback_number}, zone {org.timezone}")
    print(f"next: `callbox --data {args.data} keys init` (recording key), edit {args.data}/lines.toml, "
          f"`callbox --data {args.data} contacts import FILE.csv`")
    store.close()
    return EXIT_OK


def enable_stack_dumps() -> None:
    """A crash in native code (pjsua2, the speech engines) prints every thread's Python stack, and
    ``kill -USR1 <pid>`` prints them from a box that hangs (to stderr: the journal under systemd)."""
    import faulthandler
    import io
    import signal
    import sys

    for stream in (sys.stderr, sys.__stderr__):  # a captured stderr (tests, embedding) has no file descriptor
        try:
            stream.fileno()
        except (AttributeError, ValueError, io.UnsupportedOperation):
            continue
        faulthandler.enable(file=stream, all_threads=True)
        if hasattr(signal, "SIGUSR1"):
            faulthandler.register(signal.SIGUSR1, file=stream, all_threads=True)
        return


# -- demo ----------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from callbox.demo import run_demo

    enable_stack_dumps()
    start = instant(args.at, "--at") if args.at else None
    run_demo(args.data, start, args.summary_json)
    return EXIT_OK


# -- run -----------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    """The daemon: start the configured lines and work through running campaigns until stopped.

    Under systemd (Type=notify) it reports READY once lines and voices are up, and pings the
    watchdog only while the main loop or calls make progress, so a stuck daemon gets restarted.
    """
    enable_stack_dumps()
    import logging

    from callbox import sdnotify, timesync
    from callbox.clock import OffsetClock
    from callbox.leds import LedBoard, SystemState
    from callbox.lines.base import LineState
    from callbox.daemon import CallBox, InboundHandler
    from callbox.provision import ProvisionError, read_lines
    from callbox.store import models as m

    log = logging.getLogger("callbox.run")
    logging.getLogger().setLevel(logging.INFO)
    clock = OffsetClock(instant(args.at, "--at")) if args.at else SystemClock()
    store = open_box(args.data, clock)
    with refused(ProvisionError):
        lines_cfg = read_lines(args.data)
    if not lines_cfg:
        raise UsageError(f"no lines configured: add a [[lines]] table to {args.data}/lines.toml (see the examples there)")
    box = CallBox(args.data, clock, store)
    leds = LedBoard([cfg["id"] for cfg in lines_cfg])  # no GPIO (a dev machine): runs without LEDs

    def paused_led(number: str, kind: str, data: dict) -> None:
        if kind == "campaign_paused":
            leds.show_line(data["line"], LineState.PAUSED)

    box.call_listeners.append(paused_led)
    watchdog = sdnotify.Watchdog.from_env(stall_s=max(900.0, 3 * args.poll))
    box.call_listeners.append(watchdog.beat)  # call progress counts as progress
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for cfg in lines_cfg:
            if cfg["kind"] == "sip":
                from callbox.lines.sip import SipAccountConfig, SipLine

                fields = {k: v for k, v in cfg.items() if k in SipAccountConfig.__dataclass_fields__}
                line = SipLine(cfg["id"], box.authority, SipAccountConfig(**fields),
                               handler=InboundHandler(box.store, box, line_id=cfg["id"]))
            else:
                from callbox.lines.gsm import GsmLine

                line = GsmLine.from_config(cfg, box.authority, box.clock,
                                           handler=InboundHandler(box.store, box, line_id=cfg["id"]))
                timesync.register_network_time_source(cfg["id"], line.network_time)
            box.add_line(line)
            leds.attach(line)
            line.start()
            log.info("line started", extra={"line": cfg["id"]})
        box.load_voice()
        sdnotify.ready(f"{len(box.lines)} line(s) started")
        leds.set_system(SystemState.READY)
        watchdog.start()
        print(f"callbox running with {len(box.lines)} line(s); Ctrl-C or SIGTERM stops it", flush=True)
        while not stop.is_set():
            watchdog.beat()
            for campaign in list(m.Campaign.select().where(m.Campaign.status == "running")):
                box.run_campaign(campaign)
            if args.once:
                break
            stop.wait(args.poll)
    except KeyboardInterrupt:
        pass
    finally:
        sdnotify.stopping()
        watchdog.stop()
        box.close()
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init", help="set up a new box: organisation, rule pack, time zone")
    p.add_argument("--rules", choices=["cn", "us", "eu"], default="cn")
    p.add_argument("--org-name", required=True)
    p.add_argument("--org-name-en", help="the name English-speaking callees hear (default: --org-name)")
    p.add_argument("--callback-number", required=True)
    p.add_argument("--timezone")
    p.add_argument("--industry", default="general", choices=["general", "medical", "finance", "retail"])
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("demo", help="run the whole box against a virtual phone bank (no hardware needed)")
    p.add_argument("--summary-json", type=Path, help="write one JSON object per contact to this file")
    p.add_argument("--at", help="the demo clock's start (ISO 8601 with zone); default today 10:00 Asia/Shanghai")
    p.set_defaults(func=cmd_demo, default_data=Path("./var/demo"))

    p = sub.add_parser("run", help="the daemon: start the configured lines and place due campaign calls")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between campaign passes")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
    p.add_argument("--at", help="start the box clock at this ISO 8601 instant (rehearsals and tests)")
    p.set_defaults(func=cmd_run)
