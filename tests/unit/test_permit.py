"""Permits: single use, short-lived, bound to one number, one attempt and one kind of line."""

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from callbox.clock import FixedClock
from callbox.compliance.permit import Permit, PermitAuthority, PermitError

T0 = datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def clock():
    return FixedClock(T0)


def test_redeem_returns_the_bound_number_once(clock):
    authority = PermitAuthority(clock)
    permit = authority.issue("+8613800138001", 7, "sip")
    assert authority.redeem(permit, "sip") == "+8613800138001"
    with pytest.raises(PermitError, match="already used"):
        authority.redeem(permit, "sip")


def test_changing_the_number_breaks_the_signature(clock):
    authority = PermitAuthority(clock)
    permit = authority.issue("+8613800138001", 7, "sip")
    forged = replace(permit, number="+8613900000000")
    with pytest.raises(PermitError, match="signature"):
        authority.redeem(forged, "sip")


def test_permit_from_another_authority_is_refused(clock):
    other = PermitAuthority(clock).issue("+8613800138001", 1, "sip")
    with pytest.raises(PermitError, match="signature"):
        PermitAuthority(clock).redeem(other, "sip")


def test_hand_made_permit_is_refused(clock):
    fake = Permit("+8613800138001", 1, "sip", T0, "00" * 12, "ab" * 32)
    with pytest.raises(PermitError):
        PermitAuthority(clock).redeem(fake, "sip")


def test_expired_permit_is_refused(clock):
    authority = PermitAuthority(clock)
    permit = authority.issue("+8613800138001", 7, "sip")
    clock.advance(seconds=61)
    with pytest.raises(PermitError, match="expired"):
        authority.redeem(permit, "sip")


def test_permit_is_bound_to_the_line_kind(clock):
    authority = PermitAuthority(clock)
    permit = authority.issue("+8613800138001", 7, "sip")
    with pytest.raises(PermitError, match="sip line"):
        authority.redeem(permit, "gsm")


def test_a_plain_string_is_not_a_permit(clock):
    with pytest.raises(PermitError, match="only with a Permit"):
        PermitAuthority(clock).redeem("+8613800138001", "sip")  # type: ignore[arg-type]
