# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Organization, OU and public sharing entries: account files -> role -> module -> local AWS."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from harness import MUTATING
from harness import REPO
from harness import LocalAws
from harness import PlaybookRun
from harness import run_playbook
from harness import start_local_aws

FIXTURES = REPO / "tests" / "fixtures" / "organizations"
SEED = FIXTURES / "local-aws-seed.yml"
BUILDER, STAGE, PROD, OUTSIDER = "100000000001", "200000000002", "300000000003", "999999999999"
ORG = f"arn:aws:organizations::{BUILDER}:organization/o-itestorg001"
OU = f"arn:aws:organizations::{BUILDER}:ou/o-itestorg001/ou-itst-produnit"
# Per run: one AssumeRole and one source listing per share, one more listing for the public
# share (is-public), and one DescribeImageAttribute per matching available image of the
# organization share (base-1, base-2) and of the OU share (svc-b-1).
RUN_CALLS = {"sts:AssumeRole": 3, "ec2:DescribeImages": 4, "ec2:DescribeImageAttribute": 3}


def names(aws: LocalAws, uid: str, **scope) -> set[str]:
    return {i["Name"] for i in aws.ec2(uid, "us-east-1").describe_images(**scope)["Images"]}


def permissions(aws: LocalAws) -> dict[str, set[str]]:
    """Image name -> the principals of its launch permissions, read as the owner."""
    source = aws.ec2(BUILDER, "us-east-1")
    found = {}
    for image in source.describe_images(Owners=["self"])["Images"]:
        answer = source.describe_image_attribute(
            ImageId=image["ImageId"], Attribute="launchPermission"
        )
        found[image["Name"]] = {next(iter(p.values())) for p in answer["LaunchPermissions"]}
    return found


def data_root_with(tmp_path: Path, sharing: list[dict]) -> Path:
    """A copy of the fixture's data root whose builder declares `sharing`; its inventory file."""
    shutil.copytree(FIXTURES / "data", tmp_path / "data")
    builder = tmp_path / "data" / "aws" / "builder" / "account.yml"
    document = {
        "$schema": "/aws/account-1.yml",
        "name": "builder",
        "uid": BUILDER,
        "resourcesDefaultRegion": "us-east-1",
        "sharing": sharing,
    }
    builder.write_text(json.dumps(document))
    shutil.copy(FIXTURES / "inventory.app_interface.yml", tmp_path)
    return tmp_path / "inventory.app_interface.yml"


@dataclass
class Shared:
    """One server after a check-mode preview, a real run and a second run."""

    aws: LocalAws
    preview: PlaybookRun
    preview_calls: dict[str, int]
    preview_permissions: dict[str, set[str]]
    first: PlaybookRun
    first_calls: dict[str, int]
    second: PlaybookRun
    second_calls: dict[str, int]


@pytest.fixture(scope="module")
def shared() -> Iterator[Shared]:
    inventory = FIXTURES / "inventory.app_interface.yml"
    with start_local_aws(SEED) as aws:
        aws.reset_calls()
        preview = run_playbook(aws, inventory, "--check", "--diff")
        preview_calls = aws.calls()
        preview_permissions = permissions(aws)
        aws.reset_calls()
        first = run_playbook(aws, inventory)
        first_calls = aws.calls()
        aws.reset_calls()
        second = run_playbook(aws, inventory)
        second_calls = aws.calls()
        yield Shared(
            aws,
            preview,
            preview_calls,
            preview_permissions,
            first,
            first_calls,
            second,
            second_calls,
        )


def test_check_mode_previews_every_share_with_a_diff_and_no_mutating_call(shared):
    output = shared.preview.output

    assert shared.preview.returncode == 0, output
    assert not MUTATING & set(shared.preview_calls)
    assert all(principals == set() for principals in shared.preview_permissions.values())
    assert (
        f"builder -> {ORG} us-east-1: shared 2, tagged 0, skipped 1, tags not copied "
        "(no single target account) (check mode: nothing applied)" in output
    )
    assert f"builder -> {OU} us-east-1: shared 1, tagged 0, skipped 0" in output
    assert "builder -> public us-east-1: shared 1, tagged 0, skipped 0" in output
    assert output.count('+    "launch_permission": true') == 4


def test_shares_with_the_organization_the_ou_and_the_public(shared):
    assert shared.first.returncode == 0, shared.first.output
    assert permissions(shared.aws) == {
        "base-1": {ORG},
        "base-2": {ORG},
        "base-pending": set(),
        "svc-b-1": {OU},
        "public-1": {"all"},
        "private-1": set(),
    }
    assert shared.first_calls == {**RUN_CALLS, "ec2:ModifyImageAttribute": 4}


def test_members_see_what_their_organization_and_ou_are_shared(shared):
    assert names(shared.aws, STAGE, ExecutableUsers=["self"]) == {"base-1", "base-2"}
    assert names(shared.aws, PROD, ExecutableUsers=["self"]) == {"base-1", "base-2", "svc-b-1"}
    assert names(shared.aws, STAGE) == {"base-1", "base-2", "public-1"}


def test_an_account_outside_the_organization_sees_only_the_public_image(shared):
    base_1 = shared.aws.ec2(BUILDER, "us-east-1").describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["base-1"]}]
    )["Images"][0]["ImageId"]

    assert names(shared.aws, OUTSIDER) == {"public-1"}
    with pytest.raises(ClientError) as refused:
        shared.aws.ec2(OUTSIDER, "us-east-1").run_instances(ImageId=base_1, MinCount=1, MaxCount=1)
    assert refused.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_a_rerun_changes_nothing_and_reads_each_organization_image_once(shared):
    assert shared.second.returncode == 0, shared.second.output
    assert shared.second.changed == 0
    assert shared.second_calls == RUN_CALLS


def test_public_without_allow_public_is_refused_with_file_entry_and_field(
    local_aws_factory, tmp_path
):
    aws = local_aws_factory(SEED)
    inventory = data_root_with(tmp_path, [{"provider": "ami", "public": True, "regex": "^public-"}])

    run = run_playbook(aws, inventory)

    assert run.returncode == 2, run.output
    assert (
        "aws/builder/account.yml: sharing[0].allow_public: public sharing makes the images "
        "launchable by every AWS account; it needs allow_public: true" in run.output
    )
    assert "ec2:ModifyImageAttribute" not in aws.calls()
    assert names(aws, OUTSIDER) == set()


def test_revocation_removes_a_deleted_organization_entry_and_keeps_the_others(
    local_aws_factory, tmp_path
):
    aws = local_aws_factory(SEED)
    assert run_playbook(aws, FIXTURES / "inventory.app_interface.yml").returncode == 0
    without_org = data_root_with(
        tmp_path,
        [
            {"provider": "ami", "organizational_unit_arn": OU, "regex": "^svc-b-"},
            {"provider": "ami", "public": True, "allow_public": True, "regex": "^public-"},
        ],
    )
    revoke = ("-e", json.dumps({"ami_share_revoke": True}))

    preview = run_playbook(aws, without_org, *revoke, "--check")
    applied = run_playbook(aws, without_org, *revoke)
    again = run_playbook(aws, without_org, *revoke)

    assert preview.returncode == 0, preview.output
    assert "builder revoke us-east-1: revoked 2, undeclared 0, failed 0 (check mode" in (
        preview.output
    )
    assert applied.returncode == 0, applied.output
    assert permissions(aws) == {
        "base-1": set(),
        "base-2": set(),
        "base-pending": set(),
        "svc-b-1": {OU},
        "public-1": {"all"},
        "private-1": set(),
    }
    assert names(aws, STAGE) == {"public-1"}
    assert again.changed == 0, again.output


def test_revocation_makes_images_private_when_the_public_entry_goes(local_aws_factory, tmp_path):
    aws = local_aws_factory(SEED)
    assert run_playbook(aws, FIXTURES / "inventory.app_interface.yml").returncode == 0
    without_public = data_root_with(
        tmp_path, [{"provider": "ami", "organization_arn": ORG, "regex": "^base-"}]
    )

    run = run_playbook(aws, without_public, "-e", json.dumps({"ami_share_revoke": True}))

    assert run.returncode == 0, run.output
    assert permissions(aws)["public-1"] == set()
    assert permissions(aws)["svc-b-1"] == set()
    assert names(aws, OUTSIDER) == set()
