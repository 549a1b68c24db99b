"""Opt-out keywords, the refusal of an opted-out recipient, provider words for "unsubscribed"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from connector.core.catalogue import Code
from connector.core.consent import (
    DEFAULT_KEYWORDS,
    ConsentChange,
    ConsentSource,
    keyword_in,
    means_unsubscribed,
)
from connector.core.model import Provider
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY, policy_for
from connector.core.rules import consent_refusal
from tests.core.factories import US_OTHER, codes, png, send

MAY_1 = datetime(2026, 5, 1, 17, 30, tzinfo=UTC)


# -- the keyword table ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        *[
            pytest.param(word, (True, word), id=f"opt-out {word}")
            for word in (
                "STOP",
                "STOPALL",
                "UNSUBSCRIBE",
                "END",
                "QUIT",
                "CANCEL",
                "REVOKE",
                "OPTOUT",
                "OPT-OUT",
                "ARRET",
            )
        ],
        *[
            pytest.param(word, (False, word), id=f"opt-in {word}")
            for word in ("START", "UNSTOP", "YES")
        ],
        pytest.param("stop", (True, "STOP"), id="lower case"),
        pytest.param("sToP", (True, "STOP"), id="mixed case"),
        pytest.param("  STOP \n", (True, "STOP"), id="surrounding spaces and newline"),
        pytest.param("\tStart\t", (False, "START"), id="tabs"),
        pytest.param("Stop.", (True, "STOP"), id="trailing full stop"),
        pytest.param("STOP!!", (True, "STOP"), id="exclamation marks"),
        pytest.param('"stop"', (True, "STOP"), id="quoted"),
        pytest.param("¡Stop!", (True, "STOP"), id="inverted exclamation"),
        pytest.param("opt-out", (True, "OPT-OUT"), id="inner hyphen is part of the word"),
        pytest.param("Arrêt", (True, "ARRET"), id="French accent"),
        pytest.param("ARRÊT", (True, "ARRET"), id="French accent upper case"),
        pytest.param("\uff53\uff54\uff4f\uff50", (True, "STOP"), id="full-width letters"),
        pytest.param("STOP 12345", None, id="STOP followed by a code"),
        pytest.param("Stop by at 5", None, id="a sentence starting with Stop"),
        pytest.param("please stop", None, id="a sentence ending with stop"),
        pytest.param("STOP STOP", None, id="two words"),
        pytest.param("OPT OUT", None, id="opt out as two words"),
        pytest.param("ST.OP", None, id="inner punctuation"),
        pytest.param("STOPP", None, id="misspelled"),
        pytest.param("停止", None, id="Chinese for stop"),
        pytest.param("Стоп", None, id="Russian for stop"),
        pytest.param("alto", None, id="Spanish for stop is not in the default list"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="only spaces"),
        pytest.param("!!!", None, id="only punctuation"),
        pytest.param("STOP" + " " * 100 + "x", None, id="long text"),
    ],
)
def test_only_a_whole_message_that_is_one_keyword_changes_consent(
    text: str, expected: tuple[bool, str] | None
) -> None:
    assert keyword_in(text, DEFAULT_KEYWORDS) == expected


def test_keyword_lists_are_policy_overridable_per_provider() -> None:
    policy = policy_for(
        Provider.AIRCALL, {"opt_out_keywords": ["stop", "Alto"], "opt_in_keywords": ["start"]}
    )

    assert keyword_in("alto", policy.keywords) == (True, "ALTO")
    assert keyword_in("END", policy.keywords) is None  # replaced, not added to
    assert keyword_in("yes", policy.keywords) is None
    assert keyword_in("END", CLOUDTALK_POLICY.keywords) == (True, "END")


def test_a_keyword_cannot_both_opt_out_and_opt_in() -> None:
    with pytest.raises(ValidationError, match="both opt out and opt in: STOP"):
        policy_for(Provider.CLOUDTALK, {"opt_in_keywords": ["START", "stop"]})


# -- the gate ------------------------------------------------------------------------------------


def opted_out(source: ConsentSource = ConsentSource.KEYWORD, **overrides: object) -> ConsentChange:
    values: dict[str, object] = {
        "number": "+14155550123",
        "opted_out": True,
        "source": source,
        "reason": "replied STOP",
        "at": MAY_1,
    }
    values.update(overrides)
    return ConsentChange.model_validate(values)


def test_the_refusal_names_the_number_the_day_and_the_stop() -> None:
    refusal = consent_refusal(opted_out())

    assert refusal is not None
    assert refusal.code is Code.RECIPIENT_OPTED_OUT
    assert refusal.message == (
        "+1 415-555-0123 opted out of messages on May 1, 2026 (replied STOP)."
    )


@pytest.mark.parametrize(
    ("source", "reason", "why"),
    [
        (ConsentSource.ADMIN, "asked by phone", "marked by an admin: asked by phone"),
        (ConsentSource.API, "suppression list", "marked through the API: suppression list"),
        (ConsentSource.CRM, "DNC flag", "marked in the CRM: DNC flag"),
        (
            ConsentSource.PROVIDER_ERROR,
            "Aircall answered 400: unsubscribed recipient",
            "the provider refused a send: Aircall answered 400: unsubscribed recipient",
        ),
    ],
)
def test_other_sources_say_who_marked_the_number(
    source: ConsentSource, reason: str, why: str
) -> None:
    refusal = consent_refusal(opted_out(source, reason=reason))

    assert refusal is not None
    assert refusal.message == f"+1 415-555-0123 opted out of messages on May 1, 2026 ({why})."


def test_the_day_is_the_utc_day_of_the_change() -> None:
    late = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    refusal = consent_refusal(opted_out(at=late))
    assert refusal is not None and "on December 31, 2026" in refusal.message


def test_an_opted_out_recipient_gets_no_sms_and_no_mms() -> None:
    state = opted_out(number=US_OTHER)
    for attachments in ([], [png()]):
        verdict = send(AIRCALL_POLICY, attachments, consent=state)
        assert not verdict.ok and not verdict.ok_with_drop
        assert codes(verdict)[0] == Code.RECIPIENT_OPTED_OUT.value


def test_a_recipient_who_opted_back_in_or_never_opted_out_is_free_to_message() -> None:
    back_in = opted_out(number=US_OTHER, opted_out=False, reason="replied START")
    assert send(CLOUDTALK_POLICY, [png()], consent=back_in).ok
    assert send(CLOUDTALK_POLICY, [png()], consent=None).ok


def test_received_messages_are_never_refused_for_consent() -> None:
    from connector.core.model import Direction, Line
    from connector.core.rules import validate

    verdict = validate(
        AIRCALL_POLICY,
        line=Line(number="+12025550167", provider=Provider.AIRCALL, mms_capable=True),
        other_party=US_OTHER,
        direction=Direction.INBOUND,
        consent=opted_out(number=US_OTHER),
    )
    assert verdict.errors == ()


# -- provider refusals that mean "unsubscribed" ---------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "unsubscribed"),
    [
        ("Aircall answered 400: Attempt to send to unsubscribed recipient", True),
        ("Aircall answered 400: The message From/To pair violates a blacklist rule.", True),
        ("CloudTalk refused the message: Recipient has opted out", True),
        ("CloudTalk refused the message: number opted-out of SMS", True),
        ("Blocked due to STOP message", True),
        ("the recipient replied STOP to this number", True),
        ("CloudTalk refused the message: SMS send failed", False),
        ("CloudTalk refused the message: Bad number configuration", False),
        ("Aircall answered 422: body is too long, stop at 1600 characters", False),
        ("Aircall answered 400: subscription expired", False),
        ("Aircall answered 404: Not Found", False),
    ],
)
def test_only_unambiguous_provider_words_mean_the_recipient_unsubscribed(
    reason: str, unsubscribed: bool
) -> None:
    assert means_unsubscribed(reason) is unsubscribed
