"""Which status changes owe an account a delivery report (`domain.model.reported`)."""

from __future__ import annotations

import pytest

from smsgw.domain.model import Account, ReportMask, Status, reported

ACCOUNT = Account(id=1, name="acme", password_hash="x")


@pytest.mark.parametrize("status", [s for s in Status if s.final])
def test_a_final_status_is_reported_when_the_message_asked_for_reports(status: Status) -> None:
    assert reported(status, ReportMask.FINAL, ACCOUNT)
    assert reported(status, ReportMask.FINAL | ReportMask.INTERMEDIATE, ACCOUNT)
    assert not reported(status, ReportMask.NONE, ACCOUNT)


def test_an_intermediate_state_is_reported_only_when_asked_for_and_listed_by_the_account() -> None:
    asked = ReportMask.FINAL | ReportMask.INTERMEDIATE
    assert reported(Status.BUFFERED, asked, ACCOUNT)  # buffered is listed by default
    assert not reported(Status.SUBMITTED, asked, ACCOUNT)  # submitted is not
    assert not reported(Status.BUFFERED, ReportMask.FINAL, ACCOUNT)  # the message asked for final reports only
    both = Account(id=1, name="acme", password_hash="x", intermediate_states=("submitted", "buffered"))
    assert reported(Status.SUBMITTED, asked, both)
    none = Account(id=1, name="acme", password_hash="x", intermediate_states=())
    assert not reported(Status.BUFFERED, asked, none)


def test_an_account_may_ask_for_intermediate_reports_on_every_message_that_asked_for_reports() -> None:
    everyone = Account(id=1, name="acme", password_hash="x", report_intermediate=True)
    assert reported(Status.BUFFERED, ReportMask.FINAL, everyone)
    assert not reported(Status.BUFFERED, ReportMask.NONE, everyone)  # skip_customer_report_delivery wins
    assert reported(Status.BUFFERED, int(ReportMask.FINAL), everyone)  # the worker passes plain ints
