"""Languages: Simplified Chinese first, English second.

Message ids in code and templates are English; ``translations/zh`` carries the Chinese. (The folder is
``zh``, not ``zh_CN``: Babel expands the locale zh_CN to zh_Hans_CN, and gettext then looks for
``zh_Hans_CN`` and ``zh`` only.) The user's
choice is kept in the session (and on their account); dates are shown in the organisation's time
zone, formatted for the chosen locale, and numbers and percentages likewise.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, current_app, redirect, request, session, url_for
from flask_babel import Babel, format_datetime, format_decimal, format_percent
from flask_login import current_user

bp = Blueprint("i18n", __name__)
babel = Babel()

LANGUAGE_NAMES = {"zh_CN": "中文", "en": "English"}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen in languages:
        return chosen
    if getattr(current_user, "is_authenticated", False) and current_user.row.language in languages:
        return current_user.row.language
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    from callbox_web import panel_of

    org = panel_of(current_app).store.organisation()
    return org.timezone if org else "Asia/Shanghai"


def fmt_dt(value: datetime | None, fmt: str = "medium") -> str:
    if value is None:
        return "—"
    if fmt == "short":
        return format_datetime(value, "short")
    return format_datetime(value, fmt)


def fmt_num(value: float | int | None) -> str:
    return "—" if value is None else format_decimal(value)


def fmt_pct(value: float | None) -> str:
    return "—" if value is None else format_percent(value, "#,##0.0%")


@bp.post("/language")
def set_language():
    """Language switch (a POST with CSRF, like every other change)."""
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if getattr(current_user, "is_authenticated", False):
            current_user.row.language = lang
            current_user.row.save()
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//"):
        target = url_for("dashboard.index")
    return redirect(target)


def init_app(app: Flask) -> None:
    from pathlib import Path

    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(Path(__file__).parent / "translations"))
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters["dt"] = fmt_dt
    app.jinja_env.filters["num"] = fmt_num
    app.jinja_env.filters["pct"] = fmt_pct
    app.jinja_env.globals["LANGUAGE_NAMES"] = LANGUAGE_NAMES
    app.jinja_env.globals["current_locale"] = select_locale
    app.register_blueprint(bp)
