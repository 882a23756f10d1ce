"""Import atomicity (property), risk control, script lint."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callbox.compliance import risk
from callbox.compliance.lint import lint_text
from callbox.compliance.rulepack import load_pack
from callbox.compliance.scripts import shipped_text
from callbox.contacts_import import import_contacts, import_history
from callbox.dialogs.script import ScriptError
from callbox.store import audit
from callbox.store import models as m
from compliance_support import Box

HEADER = "phone,name,purposes,consent_at,consent_method,consent_evidence,birth_year\n"
GOOD = "1380013{n:04d},N{n},reminder,2026-01-05T10:00:00+08:00,paper_form,form-{n},1980\n"
BAD = [
    "12345,X,reminder,2026-01-05T10:00:00+08:00,paper_form,f,1980\n",
    "1380013{n:04d},X,bogus,2026-01-05T10:00:00+08:00,paper_form,f,1980\n",
    "1380013{n:04d},X,reminder,2026-01-05 10:00,paper_form,f,1980\n",
    "1380013{n:04d},X,reminder,2026-01-05T10:00:00+08:00,telepathy,f,1980\n",
    "1380013{n:04d},X,reminder,2026-01-05T10:00:00+08:00,paper_form,,1980\n",
    "1380013{n:04d},X,reminder,2099-01-05T10:00:00+08:00,paper_form,f,1980\n",
    "1380013{n:04d},X,reminder,2026-01-05T10:00:00+08:00,paper_form,f,year\n",
]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.booleans(), st.integers(0, len(BAD) - 1)), min_size=1, max_size=25))
def test_any_bad_row_means_nothing_written(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("imp")
    box = Box(tmp / "box")
    try:
        lines, bad_lines = [], []
        for index, (good, which) in enumerate(rows):
            lines.append((GOOD if good else BAD[which]).format(n=index))
            if not good:
                bad_lines.append(index + 2)  # line 1 is the header
        path = tmp / "c.csv"
        path.write_text(HEADER + "".join(lines), encoding="utf-8")
        entries = m.AuditEntry.select().count()
        result = import_contacts(box.store, path)
        if bad_lines:
            assert not result.ok and [e.line for e in result.errors] == bad_lines
            assert m.Contact.select().count() == 0 and m.Consent.select().count() == 0
            assert m.AuditEntry.select().count() == entries
        else:
            assert result.ok and m.Contact.select().count() == len(rows) == m.Consent.select().count()
    finally:
        box.store.close()


def test_reimport_updates_and_adds_consents(box, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(HEADER + GOOD.format(n=1), encoding="utf-8")
    assert import_contacts(box.store, path).ok
    path.write_text(HEADER.replace(",birth_year", ",birth_year,consent_expires_at")
                    + GOOD.format(n=1).replace("reminder", "marketing").rstrip() + ",2026-02-01T00:00:00+08:00\n")
    assert import_contacts(box.store, path).ok
    assert m.Contact.select().count() == 1 and m.Consent.select().count() == 2
    expired = box.gate.check("+8613800130001", "marketing")
    assert expired.reasons == ("consent_expired",)


def test_history_import_all_or_nothing(box, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("phone,at,outcome\n13800138000,2026-03-01T10:00:00+08:00,answered\n13800138000,2026-03-01,answered\n")
    result = import_history(box.store, path)
    assert not result.ok and [e.line for e in result.errors] == [3] and m.Attempt.select().count() == 0


# -- risk control ----------------------------------------------------------------------------------
def _campaign(box) -> m.Campaign:
    return m.Campaign.create(name="c", purpose="reminder", script="appointment_reminder", status="running",
                             created_at=box.clock.now())


def test_complaints_pause_the_campaign_and_are_audited(box):
    campaign = _campaign(box)
    limits = box.pack.risk
    reason = None
    for i in range(limits.min_answered):
        reason = risk.after_call(box.store, campaign, answered=True, duration_s=40, opt_out=(i % 5 == 0),
                                 complaint=False, pack=box.pack) or reason
    assert reason and "complaint rate" in reason
    campaign = m.Campaign.get_by_id(campaign.id)
    assert campaign.status == "paused" and campaign.paused_reason == reason
    assert m.AuditEntry.select().where(m.AuditEntry.action == "campaign.paused").count() == 1
    assert box.gate.facts("+8613800138000", "reminder", campaign=campaign).campaign_paused
    assert audit.verify(box.store).ok


def test_quiet_campaign_keeps_running(box):
    campaign = _campaign(box)
    for _ in range(60):
        assert risk.after_call(box.store, campaign, answered=True, duration_s=30, opt_out=False, complaint=False,
                               pack=box.pack) is None
    assert m.Campaign.get_by_id(campaign.id).status == "running"


def test_short_hangups_and_answer_rate():
    limits = load_pack("cn").risk
    assert "hang-up" in risk.assess(risk.RiskStats(dialed=30, answered=30, short_hangups=20), limits)
    assert "answer rate" in risk.assess(risk.RiskStats(dialed=100, answered=5), limits)
    assert risk.assess(risk.RiskStats(dialed=10, answered=1, complaints=1), limits) is None  # too few to judge


def test_us_abandonment_limit(make_box):
    box = make_box("us")
    campaign = _campaign(box)
    paused = None
    for i in range(25):
        paused = risk.after_call(box.store, campaign, answered=True, duration_s=30, opt_out=False, complaint=False,
                                 pack=box.pack, first_audio_ms=2500 if i == 0 else 400) or paused
    assert paused and "abandonment rate" in paused
    assert risk.was_abandoned(True, 1.0, None, 2.0) is False and risk.was_abandoned(True, 3.0, None, 2.0)


def test_old_calls_leave_the_window(box):
    campaign = _campaign(box)
    for _ in range(20):
        risk.after_call(box.store, campaign, answered=True, duration_s=30, opt_out=True, complaint=False, pack=box.pack)
        m.Campaign.update(status="running").where(m.Campaign.id == campaign.id).execute()
    box.clock.advance(days=31)
    stats = risk.campaign_stats(campaign, box.clock.now() - timedelta(days=30), 5.0)
    assert stats.answered == 0


# -- lint ------------------------------------------------------------------------------------------
REMINDER = shipped_text("appointment_reminder")


@pytest.mark.parametrize("pack_id", ["cn", "us", "eu"])
def test_shipped_script_is_clean(pack_id):
    assert lint_text(REMINDER, load_pack(pack_id), "reminder", medical=True) == []


@pytest.mark.parametrize("insert,rule,phrase", [
    ("国家级专家坐诊。", "prohibited", "国家级"),
    ("本院第一。", "prohibited", "第一"),
    ("疗效100%。", "prohibited", "100%"),
    ("保证治愈。", "prohibited", "保证治愈"),
    ("投资稳赚不赔。", "guarantee", "稳赚不赔"),
    ("您不能退订。", "opt_out_denial", "不能退订"),
    ("我是真人客服。", "ai_denial", "我是真人"),
])
def test_zh_phrases_refused(insert, rule, phrase):
    text = REMINDER.replace("期待您的到来。", "期待您的到来。" + insert)
    found = {(f.rule, f.phrase, f.language, f.step) for f in lint_text(text, load_pack("cn"))}
    assert (rule, phrase, "zh", "remind.on.consent_yes") in found


@pytest.mark.parametrize("insert,rule,phrase", [
    (" We are the best clinic.", "prohibited", "the best"),
    (" Guaranteed returns on every plan.", "guarantee", "guaranteed returns"),
    (" Please stay on the line.", "opt_out_denial", "stay on the line"),
    (" You cannot opt out.", "opt_out_denial", "cannot opt out"),
])
def test_en_phrases_refused(insert, rule, phrase):
    text = REMINDER.replace("We look forward to seeing you.", "We look forward to seeing you." + insert)
    found = {(f.rule, f.phrase, f.language) for f in lint_text(text, load_pack("us"))}
    assert (rule, phrase, "en") in found


def test_medical_claims_only_on_medical_purposes():
    text = REMINDER.replace("We look forward to seeing you.", "This treatment cures back pain.")
    assert not [f for f in lint_text(text, load_pack("cn"), "reminder") if f.rule == "medical_claim"]
    assert [f for f in lint_text(text, load_pack("cn"), "reminder", medical=True) if f.rule == "medical_claim"]
    follow_up = text.replace('purpose = "reminder"', 'purpose = "follow_up"')
    assert [f for f in lint_text(follow_up, load_pack("cn")) if f.rule == "medical_claim"]


def test_ordinary_words_are_not_claims():
    text = REMINDER.replace("期待您的到来。", "这是您第一次预约，期待您的到来。").replace(
        "We look forward to seeing you.", "Your data is kept secure.")
    assert lint_text(text, load_pack("cn"), medical=True) == []


@pytest.mark.parametrize("snippet", ["skip_prologue = true", "ai_disclosure = \"\"", "[steps.opt_out_policy]\nallowed = false"])
def test_prologue_overrides_refused(snippet):
    text = REMINDER.replace('[steps.on.consent_yes]', snippet + "\n\n[steps.on.consent_yes]", 1)
    findings = lint_text(text, load_pack("cn"))
    assert findings and {f.rule for f in findings} == {"prologue_override"}


def test_top_level_override_refused_and_bad_toml_raises():
    findings = lint_text("prologue = 'mine'\n" + REMINDER, load_pack("cn"))
    assert findings[0].rule == "prologue_override" and findings[0].phrase == "prologue"
    with pytest.raises(ScriptError):
        lint_text("id = [", load_pack("cn"))


def test_purpose_mismatch():
    findings = lint_text(REMINDER, load_pack("cn"), purpose="marketing")
    assert [f.rule for f in findings] == ["purpose_mismatch"]
