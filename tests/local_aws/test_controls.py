"""Control paths for failure tests: per-account and per-image counts, AssumeRole records, rules."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_aws_support import SEED
from local_aws_support import SOURCE_UID
from local_aws_support import TARGET_UID
from local_aws_support import Account
from local_aws_support import RunningServer
from local_aws_support import error_code
from local_aws_support import local_aws


def control(url: str, path: str, method: str = "GET", payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(f"{url}/_local_aws/{path}", data=data, method=method)
    with urllib.request.urlopen(request) as answer:
        return json.load(answer)


def add_rule(url: str, **rule: Any) -> None:
    control(url, "faults", "POST", rule)


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """A server of this module's own: the tests add images and rules the session's must not see."""
    with local_aws("--seed", str(SEED)) as running:
        yield running


@pytest.fixture(scope="module")
def source(server: RunningServer) -> Account:
    return Account(server.url, SOURCE_UID)


@pytest.fixture(scope="module")
def target(server: RunningServer) -> Account:
    return Account(server.url, TARGET_UID)


@pytest.fixture
def fresh(source: Account, server: RunningServer) -> Iterator[str]:
    """A new private image of the source; counters and rules start empty."""
    image_id = source.ec2.register_image(Name=f"controls-{time.time_ns()}")["ImageId"]
    control(server.url, "faults", "DELETE")
    control(server.url, "calls/reset", "POST")
    yield image_id
    control(server.url, "faults", "DELETE")


def test_calls_by_account_split_the_counts_by_the_calling_account(server, source, target, fresh):
    source.ec2.describe_images(Owners=["self"])
    source.ec2.describe_images(Owners=["self"])
    target.ec2.describe_images(ExecutableUsers=["self"])

    accounts = control(server.url, "calls/by-account")["accounts"]

    assert accounts == {
        SOURCE_UID: {"ec2:DescribeImages": 2},
        TARGET_UID: {"ec2:DescribeImages": 1},
    }


def test_calls_by_image_count_every_call_that_names_the_image(server, source, target, fresh):
    source.ec2.modify_image_attribute(
        ImageId=fresh, LaunchPermission={"Add": [{"UserId": TARGET_UID}]}
    )
    target.ec2.create_tags(Resources=[fresh], Tags=[{"Key": "k", "Value": "v"}])

    images = control(server.url, "calls/by-image")["images"]

    assert images == {fresh: {"ec2:CreateTags": 1, "ec2:ModifyImageAttribute": 1}}


def test_assume_role_requests_keep_the_session_name_and_only_a_digest_of_the_external_id(
    server, fresh
):
    secret = "external-id-that-must-not-be-shown"
    sts = Account(server.url, SOURCE_UID, assume_role=False).client("sts")
    sts.assume_role(
        RoleArn=f"arn:aws:iam::{TARGET_UID}:role/ami-share",
        RoleSessionName="resource-sharing-aws-111111111111",
        ExternalId=secret,
    )
    sts.assume_role(RoleArn=f"arn:aws:iam::{TARGET_UID}:role/other", RoleSessionName="plain")

    answer = control(server.url, "assume-role")

    assert answer["requests"] == [
        {
            "role_arn": f"arn:aws:iam::{TARGET_UID}:role/ami-share",
            "role_session_name": "resource-sharing-aws-111111111111",
            "external_id_sha256": hashlib.sha256(secret.encode()).hexdigest(),
        },
        {
            "role_arn": f"arn:aws:iam::{TARGET_UID}:role/other",
            "role_session_name": "plain",
            "external_id_sha256": None,
        },
    ]
    assert secret not in json.dumps(answer)


def test_an_error_rule_fails_only_the_named_image_and_only_as_often_as_asked(server, source, fresh):
    other = source.ec2.register_image(Name=f"controls-other-{time.time_ns()}")["ImageId"]
    add_rule(
        server.url,
        operation="ec2:ModifyImageAttribute",
        params={"ImageId": fresh},
        code="UnauthorizedOperation",
        status=403,
        times=1,
    )
    add = {"Add": [{"UserId": TARGET_UID}]}

    first = error_code(source.ec2.modify_image_attribute, ImageId=fresh, LaunchPermission=add)
    other_first = error_code(source.ec2.modify_image_attribute, ImageId=other, LaunchPermission=add)
    again = error_code(source.ec2.modify_image_attribute, ImageId=fresh, LaunchPermission=add)

    assert (first, other_first, again) == ("UnauthorizedOperation", None, None)
    (rule,) = control(server.url, "faults")["rules"]
    assert rule["hits"] == 1


def test_an_error_rule_matches_numbered_members_such_as_create_tags_resources(
    server, source, fresh
):
    add_rule(
        server.url, operation="ec2:CreateTags", params={"ResourceId": fresh}, code="AccessDenied"
    )

    code = error_code(
        source.ec2.create_tags, Resources=["ami-0123abcd", fresh], Tags=[{"Key": "k", "Value": "v"}]
    )

    assert code == "AccessDenied"


def test_a_rule_on_assume_role_denies_one_role_with_the_sts_error_shape(server, fresh):
    denied = f"arn:aws:iam::{TARGET_UID}:role/ami-share"
    add_rule(
        server.url,
        operation="sts:AssumeRole",
        params={"RoleArn": denied},
        code="AccessDenied",
        message="not authorized to perform: sts:AssumeRole",
    )
    sts = Account(server.url, SOURCE_UID, assume_role=False).client("sts")

    with pytest.raises(ClientError) as denial:
        sts.assume_role(RoleArn=denied, RoleSessionName="session")
    allowed = sts.assume_role(
        RoleArn=f"arn:aws:iam::{SOURCE_UID}:role/ami-share", RoleSessionName="session"
    )

    assert denial.value.response["Error"]["Code"] == "AccessDenied"
    assert denial.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "not authorized" in denial.value.response["Error"]["Message"]
    assert allowed["AssumedRoleUser"]["Arn"].split(":")[4] == SOURCE_UID


def test_a_deregister_rule_makes_the_image_vanish_just_before_the_call(
    server, source, target, fresh
):
    add_rule(
        server.url,
        operation="ec2:ModifyImageAttribute",
        params={"ImageId": fresh},
        action="deregister",
    )

    code = error_code(
        source.ec2.modify_image_attribute,
        ImageId=fresh,
        LaunchPermission={"Add": [{"UserId": TARGET_UID}]},
    )

    assert code == "InvalidAMIID.Unavailable"
    assert (
        source.ec2.describe_images(
            Owners=["self"], Filters=[{"Name": "image-id", "Values": [fresh]}]
        )["Images"]
        == []
    )


@pytest.mark.parametrize(
    "rule",
    [
        [],
        {"operation": "AssumeRole"},
        {"operation": "sts:AssumeRole", "params": {"RoleArn": 7}},
        {"operation": "ec2:CreateTags", "action": "explode"},
        {"operation": "ec2:CreateTags", "action": "deregister"},
        {"operation": "ec2:CreateTags", "times": 0},
        {"operation": "ec2:CreateTags", "colour": "red"},
    ],
)
def test_a_malformed_rule_is_refused_with_the_reason(server, rule):
    with pytest.raises(urllib.error.HTTPError) as refusal:
        control(server.url, "faults", "POST", rule)

    assert refusal.value.code == 400
    assert json.load(refusal.value)["error"]
    assert control(server.url, "faults")["rules"] == []


def test_reset_forgets_assume_role_requests_and_per_account_counts(server, fresh):
    Account(server.url, SOURCE_UID)

    control(server.url, "calls/reset", "POST")

    assert control(server.url, "assume-role") == {"requests": []}
    assert control(server.url, "calls/by-account") == {"accounts": {}}
    assert control(server.url, "calls/by-image") == {"images": {}}
