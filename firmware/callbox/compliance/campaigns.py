"""Campaign lists: only consented contacts, never number ranges; pause, resume, purge.

A campaign list is a CSV with a ``phone`` column; every other column becomes a script variable for
that contact (e.g. ``appointment``). Creating a campaign refuses, as a whole:

- ``blind_dialing``: runs of consecutive numbers (…001, …002, …003 …) as long as the pack's
  ``campaigns.blind_dialing_run`` — the signature of number-range dialing, which the box never does;
- ``not_in_contacts``: any number that is not in the consent store;
- ``script_not_approved``: a script whose current content was not approved by a second person.

Bad input (unreadable rows, duplicates, unknown purpose) is reported row by row, like imports.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from callbox.compliance import numbers
from callbox.compliance.rulepack import PURPOSES, RulePack
from callbox.contacts_import import RowError
from callbox.store import audit, queries
from callbox.store import models as m
from callbox.store.db import Store

# Members that the gate turned away only because of the pause (or time) go back to the queue on resume.
RESUMABLE = frozenset({"campaign_paused", "script_not_approved", "quiet_hours", "frequency_cap"})


class CampaignError(ValueError):
    """Bad input for a campaign command (exit 2); the message names the field and the fix."""


@dataclass
class Refusal:
    """The list or script breaks a rule (exit 3): ``reasons`` are codes, ``details`` sentences."""

    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)


def consecutive_runs(e164s: list[str], threshold: int) -> list[list[str]]:
    """Runs of at least ``threshold`` numbers that follow each other by one (any order in the list)."""
    values = sorted({int(n.lstrip("+")) for n in e164s})
    runs: list[list[int]] = []
    current: list[int] = []
    for value in values:
        if current and value == current[-1] + 1:
            current.append(value)
        else:
            if len(current) >= threshold:
                runs.append(current)
            current = [value]
    if len(current) >= threshold:
        runs.append(current)
    return [[f"+{v}" for v in run] for run in runs]


@dataclass
class Member:
    line: int
    phone: str
    variables: dict[str, str]


def parse_members(text: str, region: str) -> tuple[list[Member], list[RowError]]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "phone" not in header:
        return [], [RowError(1, "header has no phone column; the first line must name the columns, e.g. phone,appointment")]
    members: list[Member] = []
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for raw in reader:
        line = reader.line_num
        row = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        try:
            phone = numbers.normalise(row.get("phone", ""), region)
        except numbers.InvalidNumber as exc:
            errors.append(RowError(line, str(exc)))
            continue
        if phone in seen:
            errors.append(RowError(line, f"{phone} already on line {seen[phone]}"))
            continue
        seen[phone] = line
        members.append(Member(line, phone, {k: v for k, v in row.items() if k != "phone"}))
    if not members and not errors:
        errors.append(RowError(1, "the list has no numbers"))
    return members, errors


def check_list(members: list[Member], pack: RulePack) -> Refusal:
    """The rules a whole list must pass (pure apart from the contact lookup)."""
    refusal = Refusal()
    runs = consecutive_runs([mb.phone for mb in members], pack.blind_dialing_run)
    if runs:
        refusal.reasons.append("blind_dialing")
        for run in runs:
            refusal.details.append(
                f"{len(run)} consecutive numbers {run[0]} .. {run[-1]} look like number-range dialing "
                f"(limit: fewer than {pack.blind_dialing_run}); the box calls only people who consented"
            )
    phones = [mb.phone for mb in members]
    known = set()
    for start in range(0, len(phones), 500):
        known.update(c.phone for c in m.Contact.select(m.Contact.phone).where(m.Contact.phone.in_(phones[start:start + 500])))
    unknown = [mb for mb in members if mb.phone not in known]
    if unknown:
        refusal.reasons.append("not_in_contacts")
        shown = ", ".join(f"line {mb.line} {mb.phone}" for mb in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        refusal.details.append(
            f"{len(unknown)} number(s) are not in the consent store: {shown}{more}; import their consent first"
        )
    return refusal


def create(
    store: Store, pack: RulePack, name: str, purpose: str, script_ref: str, contacts_csv: Path, records: bool,
    actor: str = "staff", medical: bool = False,
) -> tuple[m.Campaign | None, Refusal, list[RowError]]:
    """Create a running campaign, or return why not (row errors = bad input, refusal = rules)."""
    from callbox.compliance import scripts
    from callbox.compliance.lint import lint_text

    if purpose not in PURPOSES:
        raise CampaignError(f"--purpose must be one of {', '.join(PURPOSES)}")
    if not name.strip():
        raise CampaignError("the campaign name is empty")
    if m.Campaign.get_or_none(m.Campaign.name == name) is not None:
        raise CampaignError(f"a campaign named {name!r} exists; choose another name")
    kind, data = scripts.resolve(script_ref)
    if data is None:
        raise CampaignError(f"--script {script_ref}: no such file or shipped script")
    try:
        findings = lint_text(data.decode("utf-8"), pack, purpose=purpose, medical=medical)
    except ValueError as exc:
        raise CampaignError(f"--script {script_ref}: {exc}") from exc
    ref = script_ref if kind == "shipped" else str(Path(script_ref).resolve())
    try:
        text = contacts_csv.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CampaignError(f"--contacts {contacts_csv}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise CampaignError(f"--contacts {contacts_csv}: not UTF-8 text; save the CSV as UTF-8") from exc
    org = store.organisation()
    members, errors = parse_members(text, org.region if org else pack.default_region)
    if errors:
        return None, Refusal(), errors
    purpose_issue = [f for f in findings if f.rule == "purpose_mismatch"]
    if purpose_issue:
        raise CampaignError(f"--script {script_ref}: {purpose_issue[0].message}; use a script for {purpose}")
    refusal = check_list(members, pack)
    if findings:
        refusal.reasons.append("script_lint")
        refusal.details.extend(str(f) for f in findings)
    if not scripts.is_approved(ref):
        refusal.reasons.append("script_not_approved")
        refusal.details.append(
            f"{script_ref} (current content) is not approved: `callbox script submit {script_ref} --by YOU`, then a "
            "second person runs `callbox script approve ID --by THEM`"
        )
    if refusal.reasons:
        with store.atomic():
            audit.append(store, actor, "campaign.refused", name, {"reasons": refusal.reasons, "members": len(members)})
        return None, refusal, []
    with store.atomic():
        campaign = m.Campaign.create(name=name, purpose=purpose, script=ref, records=records, status="running",
                                     created_at=store.clock.now())
        for start in range(0, len(members), 500):
            m.CampaignMember.insert_many(
                [{"campaign": campaign.id, "phone": mb.phone, "variables": mb.variables} for mb in members[start:start + 500]]
            ).execute()
        audit.append(store, actor, "campaign.create", name,
                     {"purpose": purpose, "members": len(members), "script": ref, "records": records})
    return campaign, refusal, []


def get(name: str) -> m.Campaign:
    campaign = m.Campaign.get_or_none(m.Campaign.name == name)
    if campaign is None:
        known = ", ".join(c.name for c in m.Campaign.select(m.Campaign.name).limit(10)) or "none yet"
        raise CampaignError(f"no campaign named {name!r} (campaigns: {known})")
    return campaign


def summary(campaign: m.Campaign) -> dict:
    counts: dict[str, int] = {}
    for (status,) in m.CampaignMember.select(m.CampaignMember.status).where(m.CampaignMember.campaign == campaign).tuples():
        counts[status] = counts.get(status, 0) + 1
    return {"name": campaign.name, "purpose": campaign.purpose, "script": campaign.script, "records": campaign.records,
            "status": campaign.status, "paused_reason": campaign.paused_reason, "members": counts,
            "created_at": campaign.created_at.isoformat()}


def pause(store: Store, name: str, actor: str, reason: str = "paused by staff") -> m.Campaign:
    campaign = get(name)
    if campaign.status == "paused":
        raise CampaignError(f"campaign {name!r} is already paused ({campaign.paused_reason})")
    with store.atomic():
        campaign.status, campaign.paused_reason = "paused", reason
        campaign.save()
        audit.append(store, actor, "campaign.pause", name, {"reason": reason})
    return campaign


def resume(store: Store, name: str, actor: str) -> tuple[m.Campaign, int]:
    """Resume a paused campaign; members turned away only by the pause (or time) are queued again."""
    from callbox.compliance import scripts

    campaign = get(name)
    if campaign.status != "paused":
        raise CampaignError(f"campaign {name!r} is {campaign.status}, not paused")
    if not scripts.is_approved(campaign.script):
        raise CampaignError(f"the script {campaign.script} changed since approval; submit and approve it again first")
    requeued = 0
    with store.atomic():
        for member in m.CampaignMember.select().where(
            (m.CampaignMember.campaign == campaign) & (m.CampaignMember.status == "denied")
        ):
            reasons = set(member.last_reasons or [])
            if reasons & {"campaign_paused", "script_not_approved"} and reasons <= RESUMABLE:
                member.status, member.next_try_at = "pending", None
                member.save()
                requeued += 1
        previous = campaign.paused_reason
        campaign.status, campaign.paused_reason = "running", ""
        campaign.save()
        audit.append(store, actor, "campaign.resume", name, {"was_paused_for": previous, "requeued": requeued})
    return campaign, requeued


def purge(store: Store, name: str, actor: str) -> dict:
    """The entrusted task is over: delete the personal data of this campaign's contacts (PIPL art. 21).

    Contacts still needed by another unfinished campaign are kept (and counted). Do-not-call entries
    keep only their hash.
    """
    campaign = get(name)
    pending = (
        m.CampaignMember.select()
        .where((m.CampaignMember.campaign == campaign) & m.CampaignMember.status.in_(["pending", "deferred"]))
        .count()
    )
    if campaign.status == "running" and pending:
        raise CampaignError(
            f"campaign {name!r} is running with {pending} member(s) still to call; pause it first "
            f"(`callbox campaign pause {name}`) if the task has ended"
        )
    phones = [p for (p,) in m.CampaignMember.select(m.CampaignMember.phone)
              .where(m.CampaignMember.campaign == campaign).tuples()]
    own = m.CampaignMember.select(m.CampaignMember.phone).where(m.CampaignMember.campaign == campaign)
    in_use = {
        p for (p,) in m.CampaignMember.select(m.CampaignMember.phone)
        .join(m.Campaign)
        .where((m.Campaign.id != campaign.id) & (m.Campaign.status != "done") & m.CampaignMember.phone.in_(own))
        .tuples()
    }
    to_erase = [p for p in phones if p not in in_use]
    with store.atomic():
        counts = queries.erase_numbers(store, to_erase, actor, f"campaign {name} ended (entrusted task over)",
                                       keep_dnc_hash=False)
        m.CampaignMember.delete().where(m.CampaignMember.campaign == campaign).execute()
        campaign.status, campaign.paused_reason = "done", "purged"
        campaign.save()
        audit.append(store, actor, "campaign.purge", name, {"erased": len(to_erase), "kept_for_other_campaigns": len(in_use)})
    return {**counts, "kept_for_other_campaigns": len(in_use)}
