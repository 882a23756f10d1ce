"""Blueprints, one per page family, and what every page shares (navigation, error pages)."""

from __future__ import annotations

from flask import Flask, render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from callbox_web import panel_of, words
from callbox_web.auth import ADMIN, AUDITOR, EVERYONE, REVIEWER, STAFF

# (endpoint, label, roles that see it). The decorator on each view is what enforces access; this
# list only hides links a person cannot use.
NAV = [
    ("dashboard.index", _l("Overview"), EVERYONE),
    ("contacts.index", _l("Contacts"), (ADMIN, STAFF, REVIEWER, AUDITOR)),
    ("dnc.index", _l("Do-not-call"), EVERYONE),
    ("scripts.index", _l("Scripts"), EVERYONE),
    ("campaigns.index", _l("Campaigns"), EVERYONE),
    ("calls.index", _l("Calls"), EVERYONE),
    ("callbacks.index", _l("Callbacks"), EVERYONE),
    ("recordings.index", _l("Recordings"), (ADMIN, REVIEWER, AUDITOR)),
    ("complaints.index", _l("Complaints"), EVERYONE),
    ("audit.index", _l("Audit log"), (ADMIN, AUDITOR)),
    ("settings.index", _l("Settings"), (ADMIN, AUDITOR)),
    ("users.index", _l("Users"), (ADMIN,)),
    ("system.index", _l("System"), (ADMIN, AUDITOR)),
]


def register_blueprints(app: Flask) -> None:
    from callbox_web.views import (
        audit_log,
        auth_views,
        callbacks,
        calls,
        campaigns,
        complaints,
        contacts,
        dashboard,
        dnc,
        recordings,
        scripts,
        settings,
        system,
        users,
    )

    for module in (auth_views, dashboard, contacts, dnc, scripts, campaigns, calls, callbacks, recordings, complaints,
                   audit_log, settings, users, system):
        app.register_blueprint(module.bp)

    @app.context_processor
    def navigation():
        items = []
        if current_user.is_authenticated:
            items = [(ep, label) for ep, label, roles in NAV if current_user.role in roles]
        return {"nav_items": items}

    # Plain-words tables and helpers every template may use (see callbox_web.words).
    app.jinja_env.globals.update(
        word=words.word,
        reasons=words.reasons,
        callback_reason=words.callback_reason,
        role_name=lambda code: words.word(words.ROLES, code),
        role_help=lambda code: words.word(words.ROLE_HELP, code),
        now=lambda: panel_of(app).clock.now(),
        PURPOSES=words.PURPOSES,
        CONSENT_METHODS=words.CONSENT_METHODS,
        DECISIONS=words.DECISIONS,
        OUTCOMES=words.OUTCOMES,
        MEMBER_STATUS=words.MEMBER_STATUS,
        CAMPAIGN_STATUS=words.CAMPAIGN_STATUS,
        SCRIPT_STATUS=words.SCRIPT_STATUS,
        DNC_SOURCES=words.DNC_SOURCES,
        COMPLAINT_CHANNELS=words.COMPLAINT_CHANNELS,
    )

    @app.errorhandler(403)
    def forbidden(_error):
        return render_template("error.html", code=403,
                               message=_l("Your role does not allow this page. Ask an administrator if you need it.")), 403

    @app.errorhandler(404)
    def not_found(_error):
        return render_template("error.html", code=404, message=_l("There is no such page.")), 404

    @app.errorhandler(CSRFError)
    def csrf_failed(_error):
        return render_template("error.html", code=400,
                               message=_l("The form had expired or did not come from this panel. "
                                          "Go back, reload the page and try again.")), 400

    @app.errorhandler(413)
    def too_large(_error):
        return render_template("error.html", code=413, message=_l("The file is too large.")), 413

    @app.get("/healthz")
    def healthz():
        """For a watchdog: answers without a login, says nothing about the data."""
        return {"ok": True}

    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"))

