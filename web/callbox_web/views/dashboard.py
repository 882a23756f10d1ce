"""The overview: each line's live state, today's numbers, paused campaigns, two charts."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from flask import Blueprint, Response, current_app, render_template, stream_with_context
from flask_babel import gettext as _

from callbox.provision import ProvisionError, read_lines
from callbox.store import models as m
from callbox.store import queries_callbacks
from callbox_web import charts, linestate, stats, words
from callbox_web.auth import EVERYONE, panel, roles_required

bp = Blueprint("dashboard", __name__)


def configured_lines() -> list[dict]:
    """Lines from lines.toml merged with what the daemon last reported (a line may have no report yet)."""
    p = panel()
    try:
        lines = read_lines(p.data_dir)
    except ProvisionError:
        lines = []
    states = linestate.snapshot()
    out = []
    for cfg in lines:
        state = states.pop(cfg["id"], None)
        out.append({"line": cfg["id"], "kind": cfg.get("kind", ""), "state": state["state"] if state else "unknown",
                    "detail": state["detail"] if state else "", "at": state["at"] if state else ""})
    for line_id, state in states.items():  # lines the daemon runs that the file no longer lists
        out.append({"line": line_id, "kind": "", **state})
    for line in out:
        line["label"] = words.word(words.LINE_STATES, line["state"])
    return out


@bp.get("/")
@roles_required(*EVERYONE)
def index():
    p = panel()
    org = p.store.organisation()
    zone = org.timezone if org else "Asia/Shanghai"
    now = p.clock.now()
    summary = stats.today(now, zone)
    hours = stats.calls_per_hour(now, zone)
    hour_chart = charts.bar_chart([f"{h:02d}" for h in range(24)], hours, _("Calls per hour today"),
                                  _("No calls yet today"), label_every=3)
    day_start, day_end = stats.day_bounds(stats.local_day(now, zone), zone)
    outcome_rows = [(words.word(words.OUTCOMES, code), n) for code, n in stats.outcomes(day_start - timedelta(days=6), day_end)]
    outcome_chart = charts.share_bars(outcome_rows, _("Call outcomes, last 7 days"), _("No calls in the last 7 days"))
    paused = list(m.Campaign.select().where(m.Campaign.status == "paused").order_by(m.Campaign.name))
    running = list(m.Campaign.select().where(m.Campaign.status == "running").order_by(m.Campaign.name))
    return render_template("dashboard.html", org=org, summary=summary, lines=configured_lines(), paused=paused,
                           running=running, callbacks_open=queries_callbacks.open_count(), hour_chart=hour_chart, outcome_chart=outcome_chart)


@bp.get("/events/lines")
@roles_required(*EVERYONE)
def events():
    """Server-sent events: one ``lines`` event whenever any line's state changes.

    Polls the LineStatus table (written by the daemon, possibly another process). Ends after
    SSE_MAX_SECONDS; the browser's EventSource reconnects by itself, so a forgotten tab never holds a
    server thread for long.
    """
    app = current_app._get_current_object()
    p = panel()
    poll = app.config["SSE_POLL_SECONDS"]
    limit = app.config["SSE_MAX_SECONDS"]

    def stream():
        yield "retry: 1000\n\n"
        last = None
        started = sent = time.monotonic()
        while not p.stopping.is_set() and time.monotonic() - started < limit:
            current = [{k: line[k] for k in ("line", "state", "detail", "label", "at")} for line in configured_lines()]
            if current != last:
                last, sent = current, time.monotonic()
                yield f"event: lines\ndata: {json.dumps(current, ensure_ascii=False)}\n\n"
            elif time.monotonic() - sent > 15:
                sent = time.monotonic()
                yield ": keep-alive\n\n"  # lets the server notice a closed tab
            p.stopping.wait(poll)

    response = Response(stream_with_context(stream()), mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Accel-Buffering"] = "no"
    return response
