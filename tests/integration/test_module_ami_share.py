# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""The ami_share module run by ansible against the local AWS, checked as each account.

Runs that change nothing share one server (`applied`, after a check-mode preview and a
first run); tests that change the accounts get a server of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import MUTATING
from harness import REPO
from harness import LocalAws
from harness import run_module
from harness import start_local_aws

FIXTURES = REPO / "tests" / "fixtures" / "module"
SEED = FIXTURES / "local-aws-seed.yml"
PLAYBOOK = FIXTURES / "run-ami-share.yml"
SOURCE, TARGET, STRANGER = "111111111111", "022222222222", "333333333333"
# The us-east-1 images whose name starts with app-web-, by what must happen to them.
SHAREABLE = {"app-web-1", "app-web-2", "app-web-cmk", "app-web-old"}
ALREADY_SHARED = {"app-web-old"}
SKIPPED = {"app-web-3", "app-web-4", "app-web-managed-key"}
SOURCE_TAGS = {
    "app-web-1": {"app": "web", "version": "1"},
    "app-web-2": {"app": "web", "version": "2"},
    "app-web-cmk": {"app": "web", "encrypted": "cmk"},
    "app-web-old": {"app": "web", "version": "0"},
}
LIST_CALLS = {"sts:AssumeRole": 2, "ec2:DescribeImages": 3}
# The aws/ebs image is never shared, so every run checks the key of that one image again.
KEY_CHECK_CALLS = {"ec2:DescribeSnapshots": 1, "kms:DescribeKey": 1}


def role(uid: str) -> str:
    return f"arn:aws:iam::{uid}:role/ami-share"


@dataclass
class Runner:
    """Runs the module with ansible-playbook against one local AWS."""

    aws: LocalAws
    workdir: Path

    def __call__(self, *flags: str, **options) -> dict:
        """Run once with these options over the defaults; return the registered result."""
        args = {
            "region": "us-east-1",
            "name_regex": "^app-web-",
            "source_account_id": SOURCE,
            "target_account_id": TARGET,
            "source_role_arn": role(SOURCE),
            "target_role_arn": role(TARGET),
            "endpoint_url": self.aws.url,
            **options,
        }
        return run_module(self.aws, PLAYBOOK, args, self.workdir, *flags)

    def images(self, uid: str, region: str, **filters) -> dict[str, dict]:
        """Images the account sees with these DescribeImages parameters, by name."""
        images = self.aws.ec2(uid, region).describe_images(**filters)["Images"]
        return {image["Name"]: image for image in images}

    def target_view(self, region: str = "us-east-1") -> dict[str, dict[str, str]]:
        """Name -> the target's own tags, for every image shared with the target explicitly."""
        return {
            name: {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
            for name, image in self.images(TARGET, region, ExecutableUsers=["self"]).items()
        }


@dataclass
class Applied:
    """A server after a check-mode preview and one real run, and what each returned."""

    run: Runner
    preview: dict
    preview_calls: dict[str, int]
    preview_view: dict[str, dict[str, str]]
    first: dict


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Applied:
    with start_local_aws(SEED) as aws:
        run = Runner(aws, tmp_path_factory.mktemp("applied"))
        preview = run("--check", "--diff")
        preview_calls = aws.calls()
        preview_view = run.target_view()
        first = run()
        yield Applied(run, preview, preview_calls, preview_view, first)


@pytest.fixture
def fresh(local_aws_factory, tmp_path) -> Runner:
    return Runner(local_aws_factory(SEED), tmp_path)


def names_of(result: dict, image_ids) -> set[str]:
    names = {image["image_id"]: image["name"] for image in result["images"]}
    return {names[image_id] for image_id in image_ids}


def test_check_mode_reports_the_plan_and_diff_and_mutates_nothing(applied):
    preview = applied.preview

    assert preview["changed"] is True
    assert names_of(preview, preview["shared"]) == SHAREABLE - ALREADY_SHARED
    assert preview["tagged"] == applied.first["tagged"]
    assert [(a["action"], a["image_id"]) for a in preview["plan"]] == [
        (a["action"], a["image_id"]) for a in applied.first["plan"]
    ]
    headers = {d["before_header"] for d in preview["diff"]}
    assert headers == {f"{i['image_id']} ({i['name']})" for i in preview["images"] if i["actions"]}
    assert not MUTATING & set(applied.preview_calls)
    assert applied.preview_view == {"app-web-old": {}}


def test_first_run_shares_exactly_the_matching_available_images_and_tags_them(applied):
    first = applied.first

    assert first["changed"] is True
    assert first["failures"] == []
    assert names_of(first, first["shared"]) == SHAREABLE - ALREADY_SHARED
    assert names_of(first, first["tagged"]) == SHAREABLE
    assert {s["name"] for s in first["skipped_images"]} == SKIPPED
    assert applied.run.target_view() == SOURCE_TAGS


def test_shares_with_the_target_account_only_and_never_publicly(applied):
    run = applied.run
    source = run.aws.ec2(SOURCE, "us-east-1")

    for name, image in run.images(SOURCE, "us-east-1", Owners=["self"]).items():
        permissions = source.describe_image_attribute(
            ImageId=image["ImageId"], Attribute="launchPermission"
        )["LaunchPermissions"]
        assert permissions == ([{"UserId": TARGET}] if name in SHAREABLE else []), name
    assert run.images(STRANGER, "us-east-1", ExecutableUsers=["self"]) == {}


def test_skips_the_image_encrypted_with_the_aws_managed_key_with_the_reason(applied):
    (managed,) = [s for s in applied.first["skipped_images"] if s["name"] == "app-web-managed-key"]

    assert managed["reason"].startswith(
        "encrypted with the AWS managed key aws/ebs, which AWS does not let anyone share; "
    )
    # The fix: re-encrypt a copy with a customer managed key and share that.
    assert "CopyImage with Encrypted=true and KmsKeyId" in managed["reason"]
    assert "share the copy" in managed["reason"]


def test_second_run_changes_nothing_and_makes_list_calls_only(applied):
    applied.run.aws.reset_calls()

    result = applied.run(name_regex="^app-web-[0-9]+$")

    assert result["changed"] is False
    assert result["plan"] == []
    assert applied.run.aws.calls() == LIST_CALLS
    assert result["calls"] == LIST_CALLS


def test_second_run_with_an_unshareable_image_adds_one_key_check_and_no_mutation(applied):
    applied.run.aws.reset_calls()

    result = applied.run()

    assert result["changed"] is False
    assert applied.run.aws.calls() == {**LIST_CALLS, **KEY_CHECK_CALLS}


def test_check_mode_after_the_run_has_nothing_to_show(applied):
    result = applied.run("--check", "--diff")

    assert result["changed"] is False
    assert result["diff"] == []


def test_refuses_a_target_role_of_another_account_and_changes_nothing(applied):
    applied.run.aws.reset_calls()

    result = applied.run(target_role_arn=role(STRANGER))

    assert result["failed"] is True
    assert result["msg"] == (
        f"target_role_arn is a role of account {STRANGER}, not of target_account_id {TARGET}; "
        "nothing was shared"
    )
    assert applied.run.aws.calls() == {"sts:AssumeRole": 2}


def test_refuses_a_source_role_that_is_not_the_declared_source(applied):
    applied.run.aws.reset_calls()

    result = applied.run(source_role_arn=role(STRANGER))

    assert result["failed"] is True
    assert result["msg"].startswith(f"the source identity is account {STRANGER}, not source_")
    assert not MUTATING & set(applied.run.aws.calls())


def test_tags_are_written_in_the_region_of_the_share(applied):
    result = applied.run(region="eu-west-1")

    assert names_of(result, result["shared"]) == {"app-web-eu-1"}
    assert applied.run.target_view("eu-west-1") == {"app-web-eu-1": {"app": "web", "region": "eu"}}
    assert applied.run.target_view("us-east-1") == SOURCE_TAGS


def test_without_copy_tags_shares_only_and_never_assumes_the_target_role(applied):
    applied.run.aws.reset_calls()

    result = applied.run(region="us-west-2", copy_tags=False, target_role_arn=None)

    assert names_of(result, result["shared"]) == {"app-web-west-1"}
    assert result["tagged"] == {}
    assert applied.run.aws.calls() == {
        "sts:AssumeRole": 1,
        "ec2:DescribeImages": 2,
        "ec2:ModifyImageAttribute": 1,
    }
    assert applied.run.target_view("us-west-2") == {"app-web-west-1": {}}


def test_target_own_tags_are_kept_and_a_changed_source_tag_is_rewritten(fresh):
    fresh()
    image_id = fresh.images(SOURCE, "us-east-1", Owners=["self"])["app-web-1"]["ImageId"]
    fresh.aws.ec2(TARGET, "us-east-1").create_tags(
        Resources=[image_id], Tags=[{"Key": "owner", "Value": "target-team"}]
    )
    fresh.aws.ec2(SOURCE, "us-east-1").create_tags(
        Resources=[image_id], Tags=[{"Key": "version", "Value": "1.1"}]
    )

    result = fresh()

    assert result["tagged"] == {image_id: {"version": "1.1"}}
    assert result["shared"] == []
    assert fresh.target_view()["app-web-1"] == {
        "app": "web",
        "version": "1.1",
        "owner": "target-team",
    }
