"""Phone numbers: one normalisation to E.164, the region by numbering plan, safe masking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.core import phone
from tests.core.factories import AU_LANDLINE, AU_MOBILE, CA_MOBILE, JM_MOBILE, US_MOBILE


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        pytest.param("+1 (202) 555-0167", None, "+12025550167", id="formatted international US"),
        pytest.param("+1.202.555.0167", None, "+12025550167", id="dotted international US"),
        pytest.param("(202) 555-0167", "US", "+12025550167", id="national US with region"),
        pytest.param("202 555 0167", "US", "+12025550167", id="spaced national US with region"),
        pytest.param("416-555-0123", "CA", "+14165550123", id="national Canada with region"),
        pytest.param("02 9123 4567", "AU", "+61291234567", id="national Australian landline"),
        pytest.param("0412 345 678", "AU", "+61412345678", id="national Australian mobile"),
        pytest.param("+12025550167", "AU", "+12025550167", id="E.164 wins over region"),
    ],
)
def test_normalize_gives_e164_whatever_the_format(raw: str, region: str | None, expected: str):
    assert phone.normalize(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        pytest.param("call me maybe", None, id="words"),
        pytest.param("call me maybe", "US", id="words with region"),
        pytest.param("(202) 555-0167", None, id="national without region"),
        pytest.param("+1 12", None, id="too short"),
        pytest.param("", "US", id="empty"),
    ],
)
def test_normalize_refuses_text_that_is_no_number_and_names_it(raw: str, region: str | None):
    with pytest.raises(phone.InvalidPhoneNumber) as excinfo:
        phone.normalize(raw, region)
    assert repr(raw) in str(excinfo.value)


def test_invalid_phone_number_is_a_value_error():
    assert issubclass(phone.InvalidPhoneNumber, ValueError)


@pytest.mark.parametrize("raw", [None, "", "ask for Bob", "ext. 12"])
def test_try_normalize_gives_none_for_what_crm_fields_may_hold(raw: str | None):
    assert phone.try_normalize(raw, "US") is None


def test_try_normalize_reads_a_real_number():
    assert phone.try_normalize("(202) 555-0167", "US") == US_MOBILE


@pytest.mark.parametrize(
    ("number", "region"),
    [
        pytest.param(US_MOBILE, "US", id="+1 202 is US"),
        pytest.param(CA_MOBILE, "CA", id="+1 416 is CA"),
        pytest.param(JM_MOBILE, "JM", id="+1 876 is Jamaica, not US"),
        pytest.param(AU_MOBILE, "AU", id="+61 is AU"),
    ],
)
def test_region_of_follows_the_numbering_plan(number: str, region: str):
    assert phone.region_of(number) == region


def test_region_of_refuses_what_is_not_a_number():
    with pytest.raises(phone.InvalidPhoneNumber):
        phone.region_of("nope")


@pytest.mark.parametrize(
    ("number", "fixed"),
    [
        pytest.param(AU_LANDLINE, True, id="AU 02 landline is clearly fixed"),
        pytest.param(AU_MOBILE, False, id="AU 04 mobile is not fixed"),
        pytest.param(US_MOBILE, False, id="US number cannot be told apart so not fixed"),
        pytest.param(CA_MOBILE, False, id="CA number cannot be told apart so not fixed"),
    ],
)
def test_is_clearly_fixed_line_only_when_the_plan_says_landline(number: str, fixed: bool):
    assert phone.is_clearly_fixed_line(number) is fixed


def test_national_format_is_how_a_person_writes_it():
    assert phone.national_format(US_MOBILE) == "(202) 555-0167"


def test_variants_list_the_spellings_a_crm_user_may_have_typed():
    found = phone.variants(US_MOBILE)
    assert found[0] == US_MOBILE
    for spelling in ("12025550167", "+1 202-555-0167", "(202) 555-0167", "2025550167"):
        assert spelling in found
    assert len(found) == len(set(found))


@pytest.mark.parametrize("number", [US_MOBILE, AU_MOBILE, AU_LANDLINE, JM_MOBILE])
def test_every_variant_normalises_back_to_the_same_number(number: str):
    region = phone.region_of(number)
    for spelling in phone.variants(number):
        assert phone.normalize(spelling, region) == number


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        pytest.param(US_MOBILE, "+1********67", id="US"),
        pytest.param(AU_MOBILE, "+6********78", id="AU"),
        pytest.param("+1234", "+****", id="short numbers are all stars"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
    ],
)
def test_mask_shows_at_most_the_first_and_last_two_digits(number: str | None, masked: str):
    assert phone.mask(number) == masked


@settings(database=None)  # the profile's examples (100, or 25 in CI)
@given(st.from_regex(r"\+[0-9]{1,15}", fullmatch=True))
def test_mask_never_shows_the_full_number(number: str):
    masked = phone.mask(number)
    assert masked != number
    assert number[1:] not in masked
    assert sum(ch.isdigit() for ch in masked) <= 3
    assert len(masked) == len(number)


def test_a_fictional_nanp_number_still_reads_in_its_national_format() -> None:
    from connector.core import phone

    assert phone.region_of("+15551234567") is None
    assert phone.dialing_region("+15551234567") == "US"
    assert phone.try_normalize("(555) 123-4567", phone.dialing_region("+15551234567")) == (
        "+15551234567"
    )
