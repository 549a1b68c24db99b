"""The rule engine on the send API and the composer: numbers, lines, account, then each file."""

from __future__ import annotations

import pytest

from connector.core.catalogue import Code
from connector.core.model import AccountState
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY, MmsPolicy
from connector.core.rules import validate
from tests.core.factories import (
    AU_LANDLINE,
    AU_MOBILE,
    AU_OTHER_MOBILE,
    CA_MOBILE,
    JM_MOBILE,
    KB,
    MB,
    UK_MOBILE,
    US_MOBILE,
    US_OTHER,
    candidate,
    codes,
    elf_named_png,
    empty,
    gif,
    jpeg,
    line,
    pdf,
    pe_named_png,
    pictures,
    png,
    send,
)

AIRCALL = AIRCALL_POLICY
CLOUDTALK = CLOUDTALK_POLICY
CT_FORMATS = "Only jpg, jpeg, png, or gif files are allowed for MMS"
AC_FORMATS = "Only pdf, jpg, jpeg, png, or gif files are allowed for MMS"


# --- countries of both numbers -------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "line_number", "other_party", "eligible"),
    [
        pytest.param(CLOUDTALK, US_MOBILE, US_OTHER, True, id="cloudtalk US to US"),
        pytest.param(CLOUDTALK, US_MOBILE, CA_MOBILE, True, id="cloudtalk US to CA"),
        pytest.param(CLOUDTALK, CA_MOBILE, US_MOBILE, True, id="cloudtalk CA line to US"),
        pytest.param(
            CLOUDTALK, US_MOBILE, JM_MOBILE, False, id="cloudtalk refuses +1 876 Jamaica recipient"
        ),
        pytest.param(
            CLOUDTALK, JM_MOBILE, US_MOBILE, False, id="cloudtalk refuses +1 876 Jamaica line"
        ),
        pytest.param(CLOUDTALK, US_MOBILE, AU_MOBILE, False, id="cloudtalk refuses AU recipient"),
        pytest.param(CLOUDTALK, AU_MOBILE, AU_OTHER_MOBILE, False, id="cloudtalk refuses AU line"),
        pytest.param(CLOUDTALK, US_MOBILE, UK_MOBILE, False, id="cloudtalk refuses UK recipient"),
        pytest.param(AIRCALL, AU_MOBILE, AU_OTHER_MOBILE, True, id="aircall AU to AU"),
        pytest.param(AIRCALL, US_MOBILE, AU_MOBILE, True, id="aircall US to AU"),
        pytest.param(AIRCALL, US_MOBILE, CA_MOBILE, True, id="aircall US to CA"),
        pytest.param(AIRCALL, US_MOBILE, JM_MOBILE, False, id="aircall refuses Jamaica recipient"),
        pytest.param(AIRCALL, AU_MOBILE, UK_MOBILE, False, id="aircall refuses UK recipient"),
        pytest.param(AIRCALL, US_MOBILE, "not a phone", False, id="unreadable recipient"),
    ],
)
def test_both_numbers_must_belong_to_the_policys_countries(
    policy: MmsPolicy, line_number: str, other_party: str, eligible: bool
):
    verdict = send(policy, [png()], line_number=line_number, other_party=other_party)
    assert (Code.NUMBER_NOT_ELIGIBLE.value not in codes(verdict)) is eligible
    assert verdict.ok is eligible


def test_jamaica_begins_with_plus_1_yet_cloudtalk_refuses_it_by_name():
    verdict = send(CLOUDTALK, [png()], other_party=JM_MOBILE)
    (refusal,) = verdict.errors
    assert refusal.code is Code.NUMBER_NOT_ELIGIBLE
    assert JM_MOBILE in refusal.message
    assert "recipient" in refusal.message
    assert not verdict.ok_with_drop


def test_australian_numbers_are_accepted_by_aircall_and_refused_by_cloudtalk():
    def between_australians(policy: MmsPolicy) -> list[str]:
        return codes(send(policy, [png()], line_number=AU_MOBILE, other_party=AU_OTHER_MOBILE))

    assert between_australians(AIRCALL) == []
    assert between_australians(CLOUDTALK) == ["number_not_eligible", "number_not_eligible"]


def test_an_australian_landline_is_refused_as_recipient():
    verdict = send(AIRCALL, [png()], line_number=AU_MOBILE, other_party=AU_LANDLINE)
    (refusal,) = verdict.errors
    assert refusal.code is Code.RECIPIENT_NOT_MMS_CAPABLE
    assert AU_LANDLINE in refusal.message


def test_an_sms_without_files_is_not_held_to_mms_number_rules():
    assert send(CLOUDTALK, [], other_party=JM_MOBILE, mms_capable_line=False).ok


def test_the_composer_asks_whether_attaching_is_possible_at_all():
    verdict = send(CLOUDTALK, [], other_party=JM_MOBILE, mms=True)
    assert codes(verdict) == ["number_not_eligible"]


# --- line and other party capability --------------------------------------------------------


@pytest.mark.parametrize("policy", [AIRCALL, CLOUDTALK], ids=["aircall", "cloudtalk"])
def test_a_line_that_is_not_mms_capable_blocks_sending(policy: MmsPolicy):
    verdict = send(policy, [png()], mms_capable_line=False)
    assert codes(verdict) == ["line_not_mms_capable"]
    assert US_MOBILE in verdict.errors[0].message
    assert not verdict.ok_with_drop


@pytest.mark.parametrize(
    ("declared", "refused"),
    [
        pytest.param(False, True, id="declared incapable is refused"),
        pytest.param(True, False, id="declared capable passes"),
        pytest.param(None, False, id="unknown capability passes"),
    ],
)
def test_the_other_party_must_be_mms_capable(declared: bool | None, refused: bool):
    verdict = send(CLOUDTALK, [png()], other_party_mms_capable=declared)
    assert ("recipient_not_mms_capable" in codes(verdict)) is refused


# --- account --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [AccountState.TRIAL, AccountState.NO_CREDIT])
@pytest.mark.parametrize(
    "attachments", [pytest.param([], id="sms"), pytest.param([png()], id="mms")]
)
def test_cloudtalk_trial_or_no_credit_accounts_are_refused_for_sms_and_mms(
    state: AccountState, attachments: list
):
    verdict = send(CLOUDTALK, attachments, account=state)
    assert codes(verdict) == ["account_disabled"]
    assert "SMS and MMS are disabled" in verdict.errors[0].message
    assert not verdict.ok_with_drop


@pytest.mark.parametrize("state", [AccountState.TRIAL, AccountState.NO_CREDIT])
def test_aircall_states_no_account_rule(state: AccountState):
    assert send(AIRCALL, [png()], account=state).ok


# --- files: count ---------------------------------------------------------------------------


def test_ten_files_are_accepted_by_aircall():
    verdict = send(AIRCALL, pictures(10))
    assert verdict.ok
    assert verdict.kept == tuple(range(10))


def test_an_eleventh_file_is_refused_by_aircall_with_the_rendered_limit():
    verdict = send(AIRCALL, pictures(11))
    assert verdict.kept == tuple(range(10))
    assert verdict.refused == (10,)
    (refusal,) = verdict.attachments[10].errors
    assert refusal.code is Code.TOO_MANY_FILES
    assert refusal.index == 10
    assert refusal.message == (
        "You can only upload up to 10 files. Please remove some files and try again"
    )
    assert not verdict.ok
    assert verdict.ok_with_drop


@pytest.mark.parametrize(
    ("count", "ok"),
    [pytest.param(5, True, id="5 files accepted"), pytest.param(6, False, id="6 files refused")],
)
def test_a_send_through_cloudtalk_allows_5_files(count: int, ok: bool):
    assert send(CLOUDTALK, pictures(count)).ok is ok


def test_refused_files_do_not_count_towards_the_limit():
    files = [elf_named_png(), *pictures(10)]
    verdict = send(AIRCALL, files)
    assert verdict.refused == (0,)
    assert verdict.kept == tuple(range(1, 11))


# --- files: sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [AIRCALL, CLOUDTALK], ids=["aircall", "cloudtalk"])
def test_a_total_of_exactly_5_mb_is_accepted(policy: MmsPolicy):
    verdict = send(policy, [png(3 * MB), jpeg(2 * MB)])
    assert verdict.ok
    assert verdict.total_bytes == 5 * MB


@pytest.mark.parametrize("policy", [AIRCALL, CLOUDTALK], ids=["aircall", "cloudtalk"])
def test_one_byte_over_a_total_of_5_mb_is_refused(policy: MmsPolicy):
    verdict = send(policy, [png(3 * MB), jpeg(2 * MB + 1)])
    assert verdict.kept == (0,)
    (refusal,) = verdict.attachments[1].errors
    assert refusal.code is Code.TOTAL_TOO_LARGE
    assert refusal.message == (
        "Your total file size exceeds the limit of 5 MB. Please reduce the file size and try again"
    )
    assert verdict.total_bytes == 3 * MB


@pytest.mark.parametrize(
    ("file", "error"),
    [
        pytest.param(png(5 * MB), None, id="png of 5 MB accepted"),
        pytest.param(png(5 * MB + 1), "5 MB", id="png one byte over 5 MB refused"),
        pytest.param(gif(5 * MB + 1), "5 MB", id="gif one byte over 5 MB refused"),
        pytest.param(jpeg(5 * MB + 1), "5 MB", id="jpeg one byte over 5 MB refused"),
        pytest.param(pdf(600 * KB), None, id="pdf of 600 KB accepted"),
        pytest.param(pdf(601 * KB), "600 KB", id="pdf of 601 KB refused"),
        pytest.param(pdf(600 * KB + 1), "600 KB", id="pdf one byte over 600 KB refused"),
    ],
)
def test_aircall_limits_each_file_by_its_type(file, error: str | None):
    verdict = send(AIRCALL, [file])
    if error is None:
        assert verdict.ok
    else:
        (refusal,) = verdict.attachments[0].errors
        assert refusal.code is Code.FILE_TOO_LARGE
        assert refusal.message == (
            f"Your file size exceeds the limit of {error}. "
            "Please reduce the file size and try again"
        )


# --- files: formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "file", "ok"),
    [
        pytest.param(CLOUDTALK, png(), True, id="cloudtalk accepts png"),
        pytest.param(CLOUDTALK, jpeg(), True, id="cloudtalk accepts jpeg"),
        pytest.param(CLOUDTALK, gif(), True, id="cloudtalk accepts gif"),
        pytest.param(CLOUDTALK, pdf(), False, id="cloudtalk refuses pdf"),
        pytest.param(AIRCALL, pdf(), True, id="aircall accepts pdf"),
        pytest.param(AIRCALL, gif(), True, id="aircall accepts gif"),
    ],
)
def test_accepted_types_per_policy(policy: MmsPolicy, file, ok: bool):
    assert send(policy, [file]).ok is ok


def test_pdf_is_refused_under_cloudtalk_naming_only_its_types():
    (refusal,) = send(CLOUDTALK, [pdf()]).attachments[0].errors
    assert refusal.code is Code.UNSUPPORTED_FORMAT
    assert refusal.message == CT_FORMATS


@pytest.mark.parametrize(
    "name", ["photo.jpg", "photo.jpeg", "photo.JPG", "photo", "photo.png", "photo.gif"]
)
def test_jpg_and_jpeg_are_one_type_and_the_name_does_not_matter(name: str):
    verdict = send(CLOUDTALK, [jpeg(name=name)])
    assert verdict.ok
    assert verdict.attachments[0].sniffed_type == "image/jpeg"


@pytest.mark.parametrize("declared", ["image/jpg", "image/jpeg", "application/pdf", None])
def test_the_declared_type_is_never_trusted(declared: str | None):
    verdict = send(CLOUDTALK, [candidate("jpeg", 10 * KB, declared_type=declared)])
    assert verdict.ok


def test_a_png_named_gif_is_accepted_as_png():
    verdict = send(CLOUDTALK, [png(name="funny.gif")])
    assert verdict.ok
    assert verdict.attachments[0].sniffed_type == "image/png"


@pytest.mark.parametrize(
    ("policy", "file", "text"),
    [
        pytest.param(AIRCALL, elf_named_png(), AC_FORMATS, id="ELF named png under aircall"),
        pytest.param(CLOUDTALK, elf_named_png(), CT_FORMATS, id="ELF named png under cloudtalk"),
        pytest.param(AIRCALL, pe_named_png(), AC_FORMATS, id="PE named png under aircall"),
        pytest.param(
            AIRCALL,
            candidate("html", 200, name="cat.jpg", declared_type="image/jpeg"),
            AC_FORMATS,
            id="html page named jpg",
        ),
    ],
)
def test_a_disguised_file_is_refused(policy: MmsPolicy, file, text: str):
    verdict = send(policy, [file])
    (refusal,) = verdict.attachments[0].errors
    assert refusal.code is Code.UNSUPPORTED_FORMAT
    assert refusal.message == text
    assert verdict.attachments[0].sniffed_type not in policy.accepted_types


@pytest.mark.parametrize(
    "file",
    [
        pytest.param(empty(), id="empty file"),
        pytest.param(png(10 * KB).model_copy(update={"head": b""}), id="no bytes to read"),
    ],
)
def test_a_file_with_nothing_to_read_is_an_unknown_error(file):
    (refusal,) = send(AIRCALL, [file]).attachments[0].errors
    assert refusal.code is Code.UNKNOWN_ERROR
    assert refusal.message == "Sorry, the problem has occurred. Please try again later"


# --- drop or reject -------------------------------------------------------------------------


def test_drop_keeps_exactly_the_valid_files_in_their_order():
    files = [
        png(name="a.png"),
        elf_named_png(),
        pdf(601 * KB),
        jpeg(name="b.jpg"),
        empty(),
        gif(name="c.gif"),
    ]
    verdict = send(AIRCALL, files)
    assert verdict.kept == (0, 3, 5)
    assert verdict.refused == (1, 2, 4)
    assert [verdict.attachments[i].name for i in verdict.kept] == ["a.png", "b.jpg", "c.gif"]
    assert not verdict.ok
    assert verdict.ok_with_drop


def test_each_refused_file_carries_its_own_index():
    verdict = send(CLOUDTALK, [png(), pdf(), png(), elf_named_png()])
    assert [(e.code.value, e.index) for e in verdict.all_errors()] == [
        ("unsupported_format", 1),
        ("unsupported_format", 3),
    ]


def test_message_level_errors_block_even_when_every_file_is_valid():
    verdict = send(CLOUDTALK, [png()], account=AccountState.TRIAL)
    assert verdict.kept == (0,)
    assert not verdict.ok
    assert not verdict.ok_with_drop


def test_an_outbound_verdict_never_carries_the_inbound_alert():
    assert send(AIRCALL, [elf_named_png()]).alert is None


def test_the_verdict_reports_the_limits_a_composer_displays():
    verdict = send(AIRCALL, [png(1 * MB), elf_named_png(3 * MB)])
    assert verdict.total_bytes == 1 * MB
    assert verdict.max_total_bytes == 5 * MB
    assert verdict.max_files == 10


def test_validate_accepts_any_line_object_of_the_policy():
    verdict = validate(AIRCALL, line=line(AU_MOBILE, AIRCALL.provider), other_party=AU_MOBILE)
    assert verdict.ok
