"""Properties of `validate` on arbitrary input: it never raises and it accounts for every file."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.core.model import AccountState, Direction, Line, Provider
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY
from connector.core.rules import Candidate, validate
from tests.core.factories import AU_LANDLINE, AU_MOBILE, JM_MOBILE, MAGIC, MB, US_MOBILE

PROPERTY = settings(
    max_examples=settings().max_examples * 3 // 2,  # 150, or 37 under the `ci` profile
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

numbers = st.one_of(
    st.sampled_from([US_MOBILE, AU_MOBILE, AU_LANDLINE, JM_MOBILE, "+1", "+", "", "0000"]),
    st.from_regex(r"\+?[0-9 ()\-]{0,20}", fullmatch=True),
    st.text(max_size=30),
)

heads = st.one_of(
    st.binary(max_size=64),
    st.builds(
        lambda magic, tail: magic + tail,
        st.sampled_from(list(MAGIC.values())),
        st.binary(max_size=32),
    ),
    st.sampled_from(list(MAGIC.values())).map(lambda magic: magic[: len(magic) // 2]),
)

candidates = st.builds(
    Candidate,
    name=st.text(max_size=20),
    declared_type=st.one_of(st.none(), st.text(max_size=20)),
    size=st.one_of(st.integers(min_value=0, max_value=8 * MB), st.sampled_from([0, 5 * MB])),
    head=heads,
)

policies = st.sampled_from([AIRCALL_POLICY, CLOUDTALK_POLICY])
lines = st.builds(
    Line, number=numbers, provider=st.sampled_from(list(Provider)), mms_capable=st.booleans()
)
messages = st.fixed_dictionaries(
    {
        "policy": policies,
        "line": lines,
        "other_party": numbers,
        "attachments": st.lists(candidates, max_size=14),
        "direction": st.sampled_from(list(Direction)),
        "account": st.sampled_from(list(AccountState)),
        "other_party_mms_capable": st.one_of(st.none(), st.booleans()),
        "mms": st.one_of(st.none(), st.booleans()),
    }
)


@PROPERTY
@given(messages)
def test_validate_never_raises_on_arbitrary_input(message: dict):
    policy = message.pop("policy")
    validate(policy, **message)


@PROPERTY
@given(messages)
def test_kept_and_refused_always_make_up_exactly_what_was_given(message: dict):
    policy = message.pop("policy")
    verdict = validate(policy, **message)
    given_indexes = tuple(range(len(message["attachments"])))
    assert tuple(sorted(verdict.kept + verdict.refused)) == given_indexes
    assert not set(verdict.kept) & set(verdict.refused)
    assert [a.index for a in verdict.attachments] == list(given_indexes)


@PROPERTY
@given(messages)
def test_what_is_sent_outbound_always_fits_the_policy(message: dict):
    policy = message.pop("policy")
    message["direction"] = Direction.OUTBOUND
    verdict = validate(policy, **message)
    kept = [verdict.attachments[i] for i in verdict.kept]
    assert len(kept) <= policy.outbound_max_files
    assert verdict.total_bytes == sum(a.size for a in kept) <= policy.max_total_bytes
    for attachment in kept:
        assert attachment.size <= policy.max_file_bytes[attachment.sniffed_type]


@PROPERTY
@given(messages)
def test_every_refused_file_says_why_with_its_own_index(message: dict):
    policy = message.pop("policy")
    verdict = validate(policy, **message)
    for attachment in verdict.attachments:
        assert all(error.index == attachment.index for error in attachment.errors)
        assert all(error.message for error in attachment.errors)
    assert (verdict.alert is not None) == (
        verdict.direction is Direction.INBOUND and bool(verdict.refused)
    )
