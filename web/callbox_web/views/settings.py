"""Settings: the organisation callees hear, the rule pack, retention, phone lines, recording keys."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from callbox.compliance import numbers
from callbox.compliance.rulepack import RulePackError, load_pack, shipped_pack_ids
from callbox.provision import INDUSTRIES, ProvisionError, read_lines
from callbox.recordings.keystore import KeyStore, KeyStoreError
from callbox.store import audit
from callbox.store.models_panel import PanelSetting
from callbox_web.auth import ADMIN, AUDITOR, actor, current_user, panel, roles_required
from callbox_web.forms import KeysInitForm, OrganisationForm, RetentionForm
from callbox_web.views.dashboard import configured_lines

bp = Blueprint("settings", __name__, url_prefix="/settings")
SECRET_KEYS = ("password", "secret", "pin", "token")


def retention_setting() -> int | None:
    row = PanelSetting.get_or_none(PanelSetting.key == "retention_months")
    return int(row.value) if row and row.value is not None else None


def _org_form(org) -> OrganisationForm:  # type: ignore[no-untyped-def]
    form = OrganisationForm(obj=org if request.method == "GET" else None)
    form.industry.choices = [(i, i) for i in INDUSTRIES]
    form.rules.choices = [(pid, f"{load_pack(pid).name} ({pid})") for pid in shipped_pack_ids()]
    return form


def _lines() -> tuple[list[dict], str]:
    try:
        raw = read_lines(panel().data_dir)
    except ProvisionError as exc:
        return [], str(exc)
    shown = []
    for cfg in raw:
        shown.append({k: ("••••" if any(s in k for s in SECRET_KEYS) else v) for k, v in cfg.items()})
    return shown, ""


@bp.get("/")
@roles_required(ADMIN, AUDITOR)
def index():
    p = panel()
    org = p.store.organisation()
    pack = load_pack(org.rules, p.data_dir)
    keys = KeyStore.for_data_dir(p.data_dir)
    key_id = None
    if keys.exists():
        try:
            key_id = keys.public_key().key_id
        except KeyStoreError:
            key_id = "?"
    lines, lines_error = _lines()
    states = {line["line"]: line for line in configured_lines()}
    return render_template("settings/index.html", org=org, pack=pack, org_form=_org_form(org),
                           retention_form=RetentionForm(months=retention_setting() or ""),
                           retention=retention_setting(), pack_months=pack.retention_months,
                           lines=lines, lines_error=lines_error, states=states, key_id=key_id,
                           keys_form=KeysInitForm(), can_edit=current_user.role == ADMIN,
                           lines_path=p.data_dir / "lines.toml")


@bp.post("/organisation")
@roles_required(ADMIN)
def organisation():
    p = panel()
    org = p.store.organisation()
    form = _org_form(org)
    if not form.validate_on_submit():
        flash(_("Check the organisation fields."), "error")
        return redirect(url_for("settings.index"))
    try:
        ZoneInfo(form.timezone.data.strip())
    except (ZoneInfoNotFoundError, ValueError):
        flash(_("%(tz)s is not a time zone name (e.g. Asia/Shanghai).", tz=form.timezone.data), "error")
        return redirect(url_for("settings.index"))
    try:
        pack = load_pack(form.rules.data, p.data_dir)
        callback = numbers.normalise(form.callback_number.data, pack.default_region)
    except (numbers.InvalidNumber, RulePackError):
        flash(_("The callback number is not a valid phone number."), "error")
        return redirect(url_for("settings.index"))
    before = {"name": org.name, "name_en": org.name_en, "callback_number": org.callback_number,
              "timezone": org.timezone, "industry": org.industry, "rules": org.rules}
    with p.store.atomic():
        org.name, org.name_en = form.name.data.strip(), (form.name_en.data or "").strip()
        org.callback_number, org.timezone = callback, form.timezone.data.strip()
        org.industry, org.rules, org.region = form.industry.data, form.rules.data, pack.default_region
        org.save()
        after = {k: getattr(org, k) for k in before}
        audit.append(p.store, actor(), "settings.organisation", org.name,
                     {"changed": {k: [before[k], after[k]] for k in before if before[k] != after[k]}})
    flash(_("Saved. The calling service uses the new values after its next restart."), "ok")
    return redirect(url_for("settings.index"))


@bp.post("/retention")
@roles_required(ADMIN)
def retention():
    p = panel()
    org = p.store.organisation()
    pack = load_pack(org.rules, p.data_dir)
    form = RetentionForm()
    limit = int(pack.retention_months.get(org.industry, pack.retention_months.get("general", 6)))
    try:
        months = int(form.months.data) if form.validate_on_submit() else 0
    except ValueError:
        months = 0
    if not 1 <= months <= limit:
        flash(_("Give a number of months from 1 to %(n)d (the rule pack's limit for your industry).", n=limit), "error")
        return redirect(url_for("settings.index"))
    with p.store.atomic():
        (PanelSetting.insert(key="retention_months", value=months, updated_at=p.clock.now(),
                             updated_by=current_user.username)
         .on_conflict(conflict_target=[PanelSetting.key],
                      update={PanelSetting.value: months, PanelSetting.updated_at: p.clock.now(),
                              PanelSetting.updated_by: current_user.username}).execute())
        audit.append(p.store, actor(), "settings.retention", "recordings", {"months": months})
    flash(_("Recordings will be kept for %(n)d months.", n=months), "ok")
    return redirect(url_for("settings.index"))


@bp.post("/keys")
@roles_required(ADMIN)
def keys_init():
    """Create the recording key pair (once). Rotation and passphrase changes stay on the console."""
    p = panel()
    form = KeysInitForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(str(error), "error")
        return redirect(url_for("settings.index"))
    try:
        key_id = KeyStore.for_data_dir(p.data_dir).init(form.passphrase.data)
    except KeyStoreError as exc:
        flash(_("The recording key was not created: %(why)s", why=str(exc)), "error")
        return redirect(url_for("settings.index"))
    audit.append(p.store, actor(), "keys.init", key_id, {})
    flash(_("Recording key created. Keep the passphrase somewhere safe: without it no recording can be played."),
          "ok")
    return redirect(url_for("settings.index"))
