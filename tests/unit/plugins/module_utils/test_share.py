# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Option checks, identity checks and the returned data of one share."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible_collections.resource_sharing.aws.plugins.module_utils import _share as _share_module
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import Outcome
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import DETAIL_LIMIT
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import build_plan
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import ShareError
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import check_options
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import check_region_known
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import connection_from
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import explain
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import failure_summary
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import (
    refuse_wrong_accounts,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import report
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import session_name
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import skip_warnings
from ansible_collections.resource_sharing.aws.plugins.module_utils._share import (
    unwritten_tag_warnings,
)

SOURCE = "111111111111"
TARGET = "022222222222"


def options(**overrides):
    params = {
        "region": "us-east-1",
        "name_regex": "^web-",
        "target_account_id": TARGET,
        "source_account_id": None,
        "copy_tags": True,
        "source_role_arn": None,
        "target_role_arn": f"arn:aws:iam::{TARGET}:role/ami-share",
        "external_id": None,
        "role_session_name": None,
        "access_key": None,
        "secret_key": None,
        "session_token": None,
        "profile": None,
        "endpoint_url": None,
        "workers": 8,
        "max_attempts": 8,
        "connect_timeout": 3.0,
        "read_timeout": 10.0,
    }
    params.update(overrides)
    return params


def refusal(**overrides) -> str:
    with pytest.raises(ShareError) as raised:
        check_options(options(**overrides))
    return str(raised.value)


def test_accepts_good_options_and_compiles_the_regex():
    assert [p.pattern for p in check_options(options())] == ["^web-"]


def test_compiles_every_regex_of_name_regexes_without_splitting_on_commas():
    patterns = check_options(options(name_regex=None, name_regexes=["^web-{1,3}", "^api-"]))

    assert [p.pattern for p in patterns] == ["^web-{1,3}", "^api-"]


def test_rejects_empty_name_regexes_and_empty_or_invalid_elements():
    assert refusal(name_regex=None, name_regexes=[]) == "name_regexes must not be empty"
    message = refusal(name_regex=None, name_regexes=["^ok-", "", "bad-("])
    assert "name_regexes must not hold an empty regex" in message
    assert "name_regexes 'bad-(' is not a valid regex" in message


def test_rejects_an_empty_regex_naming_the_option():
    assert refusal(name_regex="") == "name_regex must not be empty"


def test_rejects_an_invalid_regex_naming_the_option_and_the_error():
    message = refusal(name_regex="web-(")
    assert message.startswith("name_regex 'web-(' is not a valid regex: missing ), unterminated")


@pytest.mark.parametrize(
    "uid", ["22222222222", "2222222222222", "22222222222a", " 22222222222", "222222222222\n"]
)
def test_rejects_a_target_account_id_that_is_not_twelve_digits(uid):
    assert refusal(target_account_id=uid) == (
        f"target_account_id must be a 12-digit account ID string, got {uid!r}"
    )


def test_keeps_leading_zeros_of_account_ids():
    check_options(options(target_account_id="000000000003", source_account_id="012345678901"))


def test_rejects_a_source_account_id_that_is_not_twelve_digits():
    assert "source_account_id must be a 12-digit" in refusal(source_account_id="1234")


def test_rejects_target_equal_to_source():
    assert "target_account_id is the source account" in refusal(source_account_id=TARGET)


@pytest.mark.parametrize(
    "region", ["", "US-EAST-1", "us-east", "not a region", "us_east_1", "us-east-1\n"]
)
def test_rejects_a_region_that_is_not_a_region_name(region):
    assert refusal(region=region) == f"region {region!r} is not an AWS region name"


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "us-gov-west-1", "ap-southeast-5"])
def test_accepts_region_names(region):
    check_options(options(region=region))


def test_copy_tags_needs_a_target_role():
    assert refusal(target_role_arn=None).startswith("copy_tags needs target_role_arn")
    check_options(options(target_role_arn=None, copy_tags=False))


def test_rejects_zero_workers_and_attempts():
    message = refusal(workers=0, max_attempts=0)
    assert "workers must be greater than 0, got 0" in message
    assert "max_attempts must be greater than 0, got 0" in message


def test_reports_every_bad_option_at_once():
    message = refusal(name_regex="", target_account_id="1", region="x")
    assert message.count("; ") == 2


def test_session_name_names_the_product_and_the_source():
    assert session_name(options(source_account_id=SOURCE)) == "resource-sharing-aws-111111111111"
    assert session_name(options()) == "resource-sharing-aws-source"
    assert session_name(options(role_session_name="nightly")) == "nightly"


def test_connection_sizes_the_http_pool_to_the_workers():
    assert connection_from(options(workers=32)).max_pool_connections == 32
    assert connection_from(options(workers=2)).max_pool_connections == 10


def test_refuses_a_source_identity_that_is_not_the_declared_source():
    with pytest.raises(ShareError, match="source identity is account 333333333333, not"):
        refuse_wrong_accounts("333333333333", None, options(source_account_id=SOURCE))


def test_refuses_a_target_role_in_another_account():
    with pytest.raises(ShareError, match="target_role_arn is a role of account 444444444444"):
        refuse_wrong_accounts(SOURCE, "444444444444", options())


def test_refuses_a_source_identity_that_is_the_target():
    with pytest.raises(ShareError, match="is the source account itself"):
        refuse_wrong_accounts(TARGET, None, options())


def test_accepts_matching_identities():
    refuse_wrong_accounts(SOURCE, TARGET, options(source_account_id=SOURCE))
    refuse_wrong_accounts(None, None, options())


def two_image_plan():
    images = [
        SourceImage("ami-1", "web-1", "available", SOURCE, {"app": "web"}),
        SourceImage("ami-2", "web-2", "available", SOURCE, {"app": "web", "v": "2"}),
        SourceImage("ami-3", "web-3", "pending", SOURCE, {}),
    ]
    return build_plan(images, set(), {}, TARGET)


def test_check_mode_reports_the_plan_as_what_would_be_done():
    result = report(two_image_plan(), Outcome(), check_mode=True, diff=True)

    assert result["changed"] is True
    assert result["shared"] == ["ami-1", "ami-2"]
    assert result["tagged"] == {"ami-1": {"app": "web"}, "ami-2": {"app": "web", "v": "2"}}
    assert [entry["done"] for entry in result["images"]] == [[], [], []]
    assert [d["before_header"] for d in result["diff"]] == ["ami-1 (web-1)", "ami-2 (web-2)"]
    assert result["skipped_images"] == [
        {
            "image_id": "ami-3",
            "name": "web-3",
            "state": "pending",
            "reason": "state is pending, only available images can be shared",
        }
    ]
    assert "skipped" not in result


def test_reports_what_was_done_and_the_failure_of_one_image():
    outcome = Outcome()
    outcome.record("ami-1", "share", None)
    outcome.record("ami-1", "tag", None)
    outcome.record("ami-2", "share", AwsError("ModifyImageAttribute", "AuthFailure", "denied"))

    result = report(two_image_plan(), outcome, check_mode=False, diff=False)

    assert result["changed"] is True
    assert result["shared"] == ["ami-1"]
    assert result["tagged"] == {"ami-1": {"app": "web"}}
    assert result["failures"] == [
        {
            "image_id": "ami-2",
            "name": "web-2",
            "operation": "ModifyImageAttribute",
            "code": "AuthFailure",
            "message": "denied",
        }
    ]
    assert result["images"][1]["error"]["code"] == "AuthFailure"
    assert result["images"][1]["actions"] == ["share", "tag"]
    assert "diff" not in result
    assert failure_summary(result) == "1 of 2 images failed: ami-2 ModifyImageAttribute AuthFailure"


def test_reports_no_change_when_nothing_was_done():
    result = report(build_plan([], set(), {}, TARGET), Outcome(), check_mode=False, diff=True)

    assert result == {
        "changed": False,
        "shared": [],
        "tagged": {},
        "untagged": {},
        "skipped_images": [],
        "image_count": 0,
        "images": [],
        "failures": [],
        "plan": [],
        "diff": [],
    }


def large_plan(count: int = DETAIL_LIMIT + 1):
    """A share over DETAIL_LIMIT images: all to share and tag, one pending."""
    images = [
        SourceImage(f"ami-{n:05d}", f"web-{n:05d}", "available", SOURCE, {"build": str(n)})
        for n in range(count - 1)
    ]
    images.append(SourceImage("ami-99999", "web-99999", "pending", SOURCE, {}))
    return build_plan(images, set(), {}, TARGET)


def test_a_large_share_lists_only_images_that_need_attention_and_counts_the_rest():
    plan = large_plan()
    outcome = Outcome()
    for image_plan in plan.images[1:-1]:
        outcome.record(image_plan.image.image_id, "share", None)
        outcome.record(image_plan.image.image_id, "tag", None)
    outcome.record("ami-00000", "share", AwsError("ModifyImageAttribute", "AuthFailure", "no"))

    result = report(plan, outcome, check_mode=False, diff=False)

    assert result["image_count"] == DETAIL_LIMIT + 1
    assert [i["image_id"] for i in result["images"]] == ["ami-00000", "ami-99999"]
    assert len(result["shared"]) == len(result["tagged"]) == DETAIL_LIMIT - 1
    # Only the actions that shared and tagged do not report: those of the failed image.
    assert result["plan"] == [
        {"action": "share", "image_id": "ami-00000", "account_id": TARGET},
        {"action": "tag", "image_id": "ami-00000", "tags": {"build": "0"}},
    ]
    assert failure_summary(result).startswith(f"1 of {DETAIL_LIMIT} images failed: ami-00000")


def test_a_large_share_in_check_mode_has_one_summary_diff_with_counts_and_ids():
    result = report(large_plan(), Outcome(), check_mode=True, diff=True)

    (summary,) = result["diff"]
    ids = [f"ami-{n:05d}" for n in range(DETAIL_LIMIT)]
    assert summary["before_header"] == f"{DETAIL_LIMIT + 1} matched images (over 1000: summarised)"
    assert summary["before"] == {
        "launch_permission": 0,
        "launch_permission_added": [],
        "tags_written": [],
        "tags_deleted": [],
    }
    assert summary["after"] == {
        "launch_permission": DETAIL_LIMIT,
        "launch_permission_added": ids,
        "tags_written": ids,
        "tags_deleted": [],
    }
    assert result["plan"] == []
    assert result["skipped_images"][0]["image_id"] == "ami-99999"


def test_a_share_at_the_limit_is_reported_image_by_image():
    result = report(large_plan(DETAIL_LIMIT), Outcome(), check_mode=True, diff=True)

    assert len(result["images"]) == DETAIL_LIMIT
    assert len(result["diff"]) == DETAIL_LIMIT - 1
    assert len(result["plan"]) == 2 * (DETAIL_LIMIT - 1)


@pytest.mark.parametrize("endpoint", ["", " ", "127.0.0.1:5000", "ftp://127.0.0.1"])
def test_rejects_an_endpoint_that_is_not_an_http_url_rather_than_using_real_aws(endpoint):
    assert refusal(endpoint_url=endpoint) == (
        f"endpoint_url must be an http(s) URL, got {endpoint!r}"
    )


def test_warns_once_per_image_whose_tags_do_not_all_fit():
    result = {
        "images": [
            {"image_id": "ami-1", "name": "web-1", "tags_not_written": []},
            {
                "image_id": "ami-2",
                "name": "web-2",
                "tags_not_written": [
                    {"key": "k" * 129, "reason": "key longer than 128 characters"},
                    {"key": "extra", "reason": "over the limit of 50 tags"},
                ],
            },
        ]
    }

    assert unwritten_tag_warnings(result, TARGET) == [
        f"ami-2 (web-2): not written in {TARGET}: tag {'k' * 40!r}: key longer than 128 "
        "characters; tag 'extra': over the limit of 50 tags"
    ]


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("ExpiredToken", "have expired: renew them"),
        ("InvalidClientTokenId", "does not accept the credentials"),
        ("SignatureDoesNotMatch", "secret key of the calling identity does not match"),
        ("NoCredentialsError", "no credentials for the calling identity"),
        ("EndpointConnectionError", "AWS cannot be reached"),
    ],
)
def test_caller_and_endpoint_errors_say_what_to_do_and_keep_the_code(code, advice):
    message = explain(AwsError("AssumeRole", code, "as AWS words it"))

    assert advice in message
    assert message.endswith(f"(AssumeRole failed: {code}: as AWS words it)")


def test_errors_about_one_share_are_left_as_aws_words_them():
    error = AwsError("DescribeImages", "UnauthorizedOperation", "denied")

    assert explain(error) == "DescribeImages failed: UnauthorizedOperation: denied"


@pytest.mark.parametrize("region", ["us-east-9", "xx-north-1"])
def test_refuses_a_region_that_no_partition_has_before_any_aws_call(region):
    with pytest.raises(ShareError, match=f"region '{region}' is not an EC2 region"):
        check_region_known(region)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"])
def test_accepts_regions_of_every_partition(region):
    check_region_known(region)


@pytest.mark.parametrize(
    "target", ["all", "", "22222222222", "2222222222222", "arn:aws:organizations::1:o-abc"]
)
def test_never_shares_with_anything_but_a_twelve_digit_account(target):
    with pytest.raises(ShareError, match="target_account_id must be a 12-digit account ID"):
        check_options(options(target_account_id=target))


def test_only_the_principal_helpers_name_public_and_organization_permissions():
    # AWS's "Group" (all) and organization entries are written in one place, permission_for,
    # so that the only way to a public image is the target_public option checked below.
    utils = Path(_share_module.__file__).parent
    sources = [*utils.glob("*.py"), utils.parent / "modules" / "ami_share.py"]
    for source in sources:
        if source.name == "_permissions.py":
            continue
        text = source.read_text()
        assert '"Group"' not in text and "'Group'" not in text, source
        assert "OrganizationArn" not in text, source
    revoke = utils / "_revoke.py"
    assert '"Add"' not in revoke.read_text()
    assert "create_tags" not in revoke.read_text()


def test_public_sharing_needs_allow_public_as_well_as_target_public():
    public = options(target_account_id=None, target_public=True, copy_tags=False)

    with pytest.raises(
        ShareError, match="target_public shares with everyone: it needs allow_public"
    ):
        check_options(public)
    check_options({**public, "allow_public": True})
    with pytest.raises(ShareError, match="allow_public goes only with target_public=true"):
        check_options(options(allow_public=True))


ORG = "arn:aws:organizations::111111111111:organization/o-abc123defg"
OU = "arn:aws:organizations::111111111111:ou/o-abc123defg/ou-ab12-cdef3456"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("target_organization_arn", ORG),
        ("target_organizational_unit_arn", OU),
    ],
)
def test_accepts_an_organization_or_ou_target_without_a_target_role(option, value):
    check_options(options(target_account_id=None, target_role_arn=None, **{option: value}))


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("target_organization_arn", ORG.replace("o-abc123defg", "o-abc")),
        ("target_organization_arn", ORG + "\n"),
        ("target_organization_arn", OU),
        ("target_organizational_unit_arn", ORG),
        ("target_organizational_unit_arn", OU.replace("ou-ab12-", "ou-")),
        ("target_organizational_unit_arn", "arn:aws:iam::111111111111:root"),
    ],
)
def test_refuses_a_malformed_organization_or_ou_arn(option, value):
    with pytest.raises(ShareError, match=f"{option} must be an"):
        check_options(options(target_account_id=None, **{option: value}))


@pytest.mark.parametrize("option", ["share_snapshots", "share_kms_keys"])
def test_refuses_snapshot_and_key_access_for_an_organization(option):
    with pytest.raises(ShareError, match=f"{option} needs target_account_id"):
        check_options(
            options(target_account_id=None, target_organization_arn=ORG, **{option: True})
        )


def test_refuses_two_targets_or_none():
    with pytest.raises(ShareError, match=r"exactly one of target_account_id, .* got 2"):
        check_options(options(target_organization_arn=ORG))
    with pytest.raises(ShareError, match=r"exactly one of target_account_id, .* got 0"):
        check_options(options(target_account_id=None))


def test_warns_for_available_images_left_unshared_but_not_for_pending_ones():
    result = {
        "skipped_images": [
            {
                "image_id": "ami-1",
                "name": "web-1",
                "state": "pending",
                "reason": "state is pending",
            },
            {"image_id": "ami-2", "name": "web-2", "state": "available", "reason": "encrypted"},
        ]
    }

    assert skip_warnings(result) == ["ami-2 (web-2): skipped: encrypted"]


@pytest.mark.parametrize("value", [None, True, ["a"], {"a": "b"}])
def test_refuses_an_extra_tag_value_that_is_not_text_before_any_call(value):
    message = refusal(copy_tags=True, extra_tags={"cost-center": value})

    assert "extra_tags: the value of 'cost-center' must be text" in message
    assert "quote it" in message


def test_writes_a_number_in_extra_tags_as_its_text():
    assert _share_module.tag_policy(options(extra_tags={"cost-center": 1234})).extra == {
        "cost-center": "1234"
    }
