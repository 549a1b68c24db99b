"""Each user-facing text of the MMS rules, reproduced exactly, with the policy's limits rendered."""

from __future__ import annotations

import pytest

from connector.core import catalogue
from connector.core.catalogue import Code, Refusal
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY
from tests.core.factories import KB, MB

AIRCALL_FORMATS = "Only pdf, jpg, jpeg, png, or gif files are allowed for MMS"
CLOUDTALK_FORMATS = "Only jpg, jpeg, png, or gif files are allowed for MMS"


@pytest.mark.parametrize(
    ("refusal", "code", "text"),
    [
        pytest.param(
            catalogue.too_many_files(10),
            Code.TOO_MANY_FILES,
            "You can only upload up to 10 files. Please remove some files and try again",
            id="too_many_files",
        ),
        pytest.param(
            catalogue.file_too_large(5 * MB),
            Code.FILE_TOO_LARGE,
            "Your file size exceeds the limit of 5 MB. Please reduce the file size and try again",
            id="file_too_large",
        ),
        pytest.param(
            catalogue.total_too_large(5 * MB),
            Code.TOTAL_TOO_LARGE,
            "Your total file size exceeds the limit of 5 MB. "
            "Please reduce the file size and try again",
            id="total_too_large",
        ),
        pytest.param(
            catalogue.unsupported_format(AIRCALL_POLICY.accepted_types),
            Code.UNSUPPORTED_FORMAT,
            AIRCALL_FORMATS,
            id="unsupported_format",
        ),
        pytest.param(
            catalogue.unknown_error(),
            Code.UNKNOWN_ERROR,
            "Sorry, the problem has occurred. Please try again later",
            id="unknown_error",
        ),
        pytest.param(
            catalogue.inbound_unsupported(),
            Code.INBOUND_UNSUPPORTED,
            "Some media cannot be received due to unsupported format.",
            id="inbound_unsupported",
        ),
        pytest.param(
            catalogue.media_unavailable(),
            Code.MEDIA_UNAVAILABLE,
            "Some media is unavailable due to an error",
            id="media_unavailable",
        ),
    ],
)
def test_each_quoted_text_of_the_rules_is_reproduced_exactly(
    refusal: Refusal, code: Code, text: str
):
    assert refusal.code is code
    assert refusal.message == text


@pytest.mark.parametrize(
    ("limit", "rendered"),
    [
        pytest.param(5 * MB, "5 MB", id="images 5 MB"),
        pytest.param(600 * KB, "600 KB", id="pdf 600 KB"),
        pytest.param(1 * MB, "1 MB", id="1 MB"),
        pytest.param(3 * MB // 2, "1.5 MB", id="1.5 MB"),
        pytest.param(1000, "1000 bytes", id="bytes"),
    ],
)
def test_sizes_are_written_the_way_the_guides_write_limits(limit: int, rendered: str):
    assert catalogue.format_size(limit) == rendered


@pytest.mark.parametrize(
    ("limit", "rendered"),
    [pytest.param(5 * MB, "5 MB", id="image limit"), pytest.param(600 * KB, "600 KB", id="pdf")],
)
def test_file_too_large_renders_the_limit_of_that_files_type(limit: int, rendered: str):
    assert catalogue.file_too_large(limit).message == (
        f"Your file size exceeds the limit of {rendered}. Please reduce the file size and try again"
    )


@pytest.mark.parametrize("limit", [5, 10])
def test_too_many_files_renders_the_policys_limit(limit: int):
    assert catalogue.too_many_files(limit).message == (
        f"You can only upload up to {limit} files. Please remove some files and try again"
    )


def test_unsupported_format_under_aircall_lists_exactly_the_guides_words():
    assert catalogue.unsupported_format(AIRCALL_POLICY.accepted_types).message == AIRCALL_FORMATS


def test_unsupported_format_under_cloudtalk_names_only_its_own_types():
    message = catalogue.unsupported_format(CLOUDTALK_POLICY.accepted_types).message
    assert message == CLOUDTALK_FORMATS
    assert "pdf" not in message


def test_unsupported_format_with_one_type_needs_no_or():
    assert catalogue.unsupported_format(frozenset({"image/png"})).message == (
        "Only png files are allowed for MMS"
    )


def test_refusal_carries_the_attachments_index():
    assert catalogue.unknown_error(index=3).index == 3
    assert catalogue.unknown_error().index is None


@pytest.mark.parametrize(
    ("refusal", "code", "must_mention"),
    [
        pytest.param(
            catalogue.number_not_eligible("+18765550123", "recipient", frozenset({"US", "CA"})),
            Code.NUMBER_NOT_ELIGIBLE,
            ["+18765550123", "recipient", "CA, US"],
            id="number_not_eligible names the number and the countries",
        ),
        pytest.param(
            catalogue.line_not_mms_capable("+12025550167"),
            Code.LINE_NOT_MMS_CAPABLE,
            ["+12025550167", "SMS MMS badge"],
            id="line_not_mms_capable names the line and what to do",
        ),
        pytest.param(
            catalogue.recipient_not_mms_capable("+61291234567"),
            Code.RECIPIENT_NOT_MMS_CAPABLE,
            ["+61291234567"],
            id="recipient_not_mms_capable names the recipient",
        ),
        pytest.param(
            catalogue.account_disabled("trial"),
            Code.ACCOUNT_DISABLED,
            ["trial plan", "SMS and MMS"],
            id="account_disabled on trial",
        ),
        pytest.param(
            catalogue.account_disabled("no_credit"),
            Code.ACCOUNT_DISABLED,
            ["run out of credit", "SMS and MMS"],
            id="account_disabled without credit",
        ),
        pytest.param(
            catalogue.line_not_listed("+13125550199"),
            Code.LINE_NOT_LISTED,
            ["+13125550199", "mappings/lines.yaml"],
            id="line_not_listed names the line and where lines are listed",
        ),
        pytest.param(
            catalogue.message_empty(),
            Code.MESSAGE_EMPTY,
            ["text", "file"],
            id="message_empty says what to add",
        ),
    ],
)
def test_refusals_without_quoted_text_have_a_stable_code_and_a_plain_sentence(
    refusal: Refusal, code: Code, must_mention: list[str]
):
    assert refusal.code is code
    for words in must_mention:
        assert words in refusal.message
    assert refusal.message.endswith(".")


def test_codes_are_the_stable_strings_clients_switch_on():
    assert {code.value for code in Code} == {
        "too_many_files",
        "file_too_large",
        "total_too_large",
        "unsupported_format",
        "unknown_error",
        "inbound_unsupported",
        "media_unavailable",
        "number_not_eligible",
        "line_not_mms_capable",
        "recipient_not_mms_capable",
        "account_disabled",
        "line_not_listed",
        "message_empty",
        "recipient_opted_out",
        "sending_not_configured",
    }
