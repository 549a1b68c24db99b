"""Each provider's MMS policy holds the MMS rules' defaults; admins override them, validated."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connector.core.model import AccountState, Provider
from connector.core.policy import AIRCALL_POLICY, CLOUDTALK_POLICY, MmsPolicy, policy_for
from tests.core.factories import KB, MB, jpeg, pictures, send

IMAGES = {"image/jpeg", "image/png", "image/gif"}


@pytest.mark.parametrize(
    ("policy", "field", "value"),
    [
        pytest.param(CLOUDTALK_POLICY, "countries", {"US", "CA"}, id="cloudtalk US and CA"),
        pytest.param(AIRCALL_POLICY, "countries", {"US", "CA", "AU"}, id="aircall US CA AU"),
        pytest.param(CLOUDTALK_POLICY, "max_files", 10, id="cloudtalk 10 images in the app"),
        pytest.param(CLOUDTALK_POLICY, "outbound_max_files", 5, id="cloudtalk send API 5 files"),
        pytest.param(AIRCALL_POLICY, "max_files", 10, id="aircall 10 attachments"),
        pytest.param(AIRCALL_POLICY, "outbound_max_files", 10, id="aircall sends 10"),
        pytest.param(CLOUDTALK_POLICY, "max_total_bytes", 5 * MB, id="cloudtalk total 5 MB"),
        pytest.param(AIRCALL_POLICY, "max_total_bytes", 5 * MB, id="aircall total 5 MB"),
        pytest.param(CLOUDTALK_POLICY, "accepted_types", IMAGES, id="cloudtalk gif png jpeg"),
        pytest.param(
            AIRCALL_POLICY, "accepted_types", {*IMAGES, "application/pdf"}, id="aircall adds pdf"
        ),
        pytest.param(
            CLOUDTALK_POLICY,
            "disabled_account_states",
            {AccountState.TRIAL, AccountState.NO_CREDIT},
            id="cloudtalk disabled on trial or no credit",
        ),
        pytest.param(AIRCALL_POLICY, "disabled_account_states", set(), id="aircall states none"),
    ],
)
def test_default_policies_hold_the_rules(policy: MmsPolicy, field: str, value: Any):
    assert getattr(policy, field) == value


@pytest.mark.parametrize(
    ("mime", "limit"),
    [
        pytest.param("image/jpeg", 5 * MB, id="jpeg up to 5 MB"),
        pytest.param("image/png", 5 * MB, id="png up to 5 MB"),
        pytest.param("image/gif", 5 * MB, id="gif up to 5 MB"),
        pytest.param("application/pdf", 600 * KB, id="pdf up to 600 KB"),
    ],
)
def test_aircall_limits_each_file_by_its_type(mime: str, limit: int):
    assert AIRCALL_POLICY.max_file_bytes[mime] == limit


def test_both_policies_require_mms_capable_mobile_recipients():
    for policy in (AIRCALL_POLICY, CLOUDTALK_POLICY):
        assert policy.recipient_must_be_mobile
        assert policy.recipient_must_be_mms_capable


@pytest.mark.parametrize("provider", list(Provider))
def test_policy_for_without_overrides_is_the_default(provider: Provider):
    assert policy_for(provider) is policy_for(provider, {})
    assert policy_for(provider).provider is provider


def test_overrides_replace_only_what_they_name():
    policy = policy_for(Provider.AIRCALL, {"max_files": 4, "max_total_bytes": 2 * MB})
    assert policy.max_files == 4
    assert policy.max_total_bytes == 2 * MB
    assert policy.countries == AIRCALL_POLICY.countries
    assert policy.max_file_bytes == AIRCALL_POLICY.max_file_bytes


def test_overrides_read_json_shapes():
    policy = policy_for(Provider.CLOUDTALK, {"countries": ["US"], "send_api_max_files": 3})
    assert policy.countries == frozenset({"US"})
    assert policy.outbound_max_files == 3


def test_overrides_cannot_change_the_provider():
    assert policy_for(Provider.CLOUDTALK, {"provider": "aircall"}).provider is Provider.CLOUDTALK


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"max_files": 0}, id="no files at all"),
        pytest.param({"max_files": "many"}, id="count not a number"),
        pytest.param({"send_api_max_files": 0}, id="send api cap zero"),
        pytest.param({"max_total_bytes": -1}, id="negative total"),
        pytest.param({"max_file_bytes": {"image/png": 0}}, id="zero file limit"),
        pytest.param({"max_file_bytes": {"image/png": -5}}, id="negative file limit"),
        pytest.param({"countries": "US"}, id="countries not a list"),
        pytest.param({"maximum_files": 3}, id="unknown key"),
    ],
)
def test_overrides_are_validated_like_the_defaults(overrides: dict[str, Any]):
    with pytest.raises(ValidationError):
        policy_for(Provider.CLOUDTALK, overrides)


def test_an_override_naming_image_jpg_still_accepts_jpeg_files():
    policy = policy_for(Provider.CLOUDTALK, {"max_file_bytes": {"image/jpg": 1 * MB}})
    assert policy.accepted_types == {"image/jpeg"}
    assert send(policy, [jpeg(1 * MB)]).ok


def test_the_send_api_cap_narrows_the_apps_count():
    assert policy_for(Provider.CLOUDTALK, {"max_files": 3}).outbound_max_files == 3
    assert policy_for(Provider.CLOUDTALK, {"send_api_max_files": None}).outbound_max_files == 10


def test_cloudtalk_send_refuses_a_sixth_file_with_the_rendered_cap_of_5():
    verdict = send(CLOUDTALK_POLICY, pictures(6))
    assert verdict.kept == (0, 1, 2, 3, 4)
    (refusal,) = verdict.attachments[5].errors
    assert refusal.message == (
        "You can only upload up to 5 files. Please remove some files and try again"
    )
    assert verdict.max_files == 5


def test_an_overridden_count_is_the_count_rendered():
    verdict = send(policy_for(Provider.AIRCALL, {"max_files": 2}), pictures(3))
    assert verdict.attachments[2].errors[0].message.startswith("You can only upload up to 2 files.")


def test_largest_file_bytes_caps_downloads_at_the_biggest_accepted_file():
    assert AIRCALL_POLICY.largest_file_bytes == 5 * MB
    assert (
        policy_for(
            Provider.AIRCALL, {"max_file_bytes": {"application/pdf": 600 * KB}}
        ).largest_file_bytes
        == 600 * KB
    )
