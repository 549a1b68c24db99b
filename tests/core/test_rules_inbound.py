"""Received messages: only each file's type and size are checked; the carrier did the rest."""

from __future__ import annotations

import pytest

from connector.core.catalogue import Code
from connector.core.model import AccountState, Direction
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY, MmsPolicy
from connector.core.rules import validate
from tests.core.factories import (
    JM_MOBILE,
    KB,
    MB,
    UK_MOBILE,
    elf_named_png,
    gif,
    line,
    pdf,
    pictures,
    png,
    receive,
)

ALERT = "Some media cannot be received due to unsupported format."


@pytest.mark.parametrize("policy", [AIRCALL_POLICY, CLOUDTALK_POLICY], ids=["aircall", "cloudtalk"])
def test_inbound_accepts_any_count_of_files(policy: MmsPolicy):
    verdict = receive(policy, pictures(14))
    assert verdict.ok
    assert len(verdict.kept) == 14


def test_inbound_accepts_any_total_size():
    verdict = receive(AIRCALL_POLICY, [png(4 * MB), png(4 * MB), gif(4 * MB)])
    assert verdict.ok
    assert verdict.total_bytes == 12 * MB


@pytest.mark.parametrize(
    ("line_number", "other_party", "capable"),
    [
        pytest.param(JM_MOBILE, UK_MOBILE, True, id="numbers outside the countries"),
        pytest.param(JM_MOBILE, UK_MOBILE, False, id="line not mms capable"),
    ],
)
def test_inbound_never_checks_numbers_lines_or_account(
    line_number: str, other_party: str, capable: bool
):
    verdict = validate(
        CLOUDTALK_POLICY,
        line=line(line_number, CLOUDTALK_POLICY.provider, capable),
        other_party=other_party,
        attachments=[png()],
        direction=Direction.INBOUND,
        account=AccountState.TRIAL,
        other_party_mms_capable=False,
    )
    assert verdict.errors == ()
    assert verdict.ok
    assert verdict.alert is None


@pytest.mark.parametrize(
    ("policy", "file", "code"),
    [
        pytest.param(CLOUDTALK_POLICY, pdf(), Code.UNSUPPORTED_FORMAT, id="pdf under cloudtalk"),
        pytest.param(AIRCALL_POLICY, elf_named_png(), Code.UNSUPPORTED_FORMAT, id="disguised"),
        pytest.param(AIRCALL_POLICY, pdf(601 * KB), Code.FILE_TOO_LARGE, id="pdf over 600 KB"),
        pytest.param(AIRCALL_POLICY, png(5 * MB + 1), Code.FILE_TOO_LARGE, id="image over 5 MB"),
    ],
)
def test_a_received_file_breaking_the_policy_is_kept_out_and_alerted(
    policy: MmsPolicy, file, code: Code
):
    verdict = receive(policy, [png(name="ok.png"), file])
    assert verdict.kept == (0,)
    assert verdict.refused == (1,)
    assert verdict.attachments[1].errors[0].code is code
    assert verdict.alert == ALERT


def test_when_no_received_file_complies_no_media_is_kept_and_the_alert_shows():
    verdict = receive(CLOUDTALK_POLICY, [pdf(), elf_named_png()])
    assert verdict.kept == ()
    assert verdict.total_bytes == 0
    assert verdict.alert == ALERT


def test_a_received_message_whose_files_all_comply_has_no_alert():
    assert receive(AIRCALL_POLICY, [png(), pdf()]).alert is None
