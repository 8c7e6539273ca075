"""share_snapshots and share_kms_keys of the ami_share module against the local AWS.

Each test gets a server of its own; the target's view is checked by what it may do there
(list the snapshots it may restore, copy the image), and the cost by the server's counts.
"""

from __future__ import annotations

import pytest
from test_module_ami_share import SEED
from test_module_ami_share import SOURCE
from test_module_ami_share import TARGET
from test_module_ami_share import Runner

LIST_CALLS = {"sts:AssumeRole": 2, "ec2:DescribeImages": 3}
GRANT_NAME = f"resource-sharing-aws-{TARGET}"
OPERATIONS = [
    "CreateGrant",
    "Decrypt",
    "DescribeKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
]


@pytest.fixture
def share(local_aws_factory, tmp_path) -> Runner:
    return Runner(local_aws_factory(SEED), tmp_path)


def source_images(aws) -> dict[str, dict]:
    images = aws.ec2(SOURCE, "us-east-1").describe_images(Owners=["self"])["Images"]
    return {image["Name"]: image for image in images}


def restorable_by_target(aws) -> set[str]:
    snapshots = aws.ec2(TARGET, "us-east-1").describe_snapshots(RestorableByUserIds=["self"])
    return {s["SnapshotId"] for s in snapshots["Snapshots"]}


def snapshot_of(image: dict) -> str:
    return image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]


def test_share_snapshots_lets_the_target_copy_and_a_rerun_only_lists(share):
    images = source_images(share.aws)
    shared = {"app-web-1", "app-web-2", "app-web-old"}  # unencrypted and shareable
    expected = {snapshot_of(images[n]) for n in shared | {"app-web-cmk"}}

    preview = share("--check", "--diff", share_snapshots=True)
    after_preview = restorable_by_target(share.aws)
    first = share(share_snapshots=True)
    share.aws.reset_calls()
    rerun = share(name_regex="^app-web-[0-9a-z]+$", share_snapshots=True)
    rerun_calls = share.aws.calls()
    copy = share.aws.ec2(TARGET, "us-east-1").copy_image(
        SourceImageId=images["app-web-1"]["ImageId"], SourceRegion="us-east-1", Name="mine"
    )

    assert {s for ids in preview["snapshots_shared"].values() for s in ids} == expected
    assert after_preview == set()
    headers = {d["before_header"] for d in preview["diff"]}
    assert {f"{images[n]['ImageId']} snapshots" for n in shared} <= headers
    assert first["snapshots_shared"] == preview["snapshots_shared"]
    assert restorable_by_target(share.aws) == expected
    assert copy["ImageId"].startswith("ami-")
    assert rerun["changed"] is False
    assert rerun["snapshots_shared"] == {}
    assert rerun_calls == {**LIST_CALLS, "ec2:DescribeSnapshots": 1}


def test_state_absent_takes_the_snapshot_permissions_back(share):
    share(share_snapshots=True, copy_tags=False, target_role_arn=None)
    granted = restorable_by_target(share.aws)

    preview = share("--check", "--diff", state="absent", share_snapshots=True)
    removed = share(state="absent", share_snapshots=True)
    again = share(state="absent", share_snapshots=True)

    assert preview["snapshots_unshared"] == removed["snapshots_unshared"]
    assert {s for ids in removed["snapshots_unshared"].values() for s in ids} == granted
    assert restorable_by_target(share.aws) == set()
    assert again["changed"] is False


def test_share_kms_keys_grants_the_target_once_by_name(share):
    images = source_images(share.aws)
    cmk_image = images["app-web-cmk"]["ImageId"]

    preview = share("--check", "--diff", share_kms_keys=True, share_snapshots=True)
    first = share(share_kms_keys=True, share_snapshots=True)
    share.aws.reset_calls()
    rerun = share(name_regex="^app-web-[0-9a-z]+$", share_kms_keys=True, share_snapshots=True)
    rerun_calls = share.aws.calls()
    copy = share.aws.ec2(TARGET, "us-east-1").copy_image(
        SourceImageId=cmk_image, SourceRegion="us-east-1", Name="cmk-copy"
    )

    (grant,) = preview["kms_grants"]
    assert grant["Name"] == GRANT_NAME
    assert grant["GranteePrincipal"] == f"arn:aws:iam::{TARGET}:root"
    assert grant["Operations"] == OPERATIONS
    assert grant["image_ids"] == [cmk_image]
    assert any(d["before_header"] == f"KMS key {grant['key_arn']}" for d in preview["diff"])
    assert first["kms_grants"] == preview["kms_grants"]
    assert [k["status"] for k in rerun["kms_keys"]] == ["granted"]
    assert rerun["changed"] is False
    assert copy["ImageId"].startswith("ami-")
    assert rerun_calls == {
        **LIST_CALLS,
        "ec2:DescribeSnapshots": 2,  # the restorable listing and the keys of one snapshot
        "kms:ListGrants": 1,
    }


def test_without_share_kms_keys_the_key_is_named_in_a_warning_and_not_granted(share):
    image_id = source_images(share.aws)["app-web-cmk"]["ImageId"]

    result = share(share_snapshots=True)

    (key,) = result["kms_keys"]
    assert key["status"] == "not granted: share_kms_keys is off"
    assert key["image_ids"] == [image_id]
    assert any(key["key_arn"] in w and TARGET in w for w in result["warnings"])
    assert result["kms_grants"] == []
    refused = share.aws.ec2(TARGET, "us-east-1")
    with pytest.raises(Exception, match="KMS key"):
        refused.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name="no-key")


def test_options_off_cost_what_they_always_did(share):
    share()
    share.aws.reset_calls()

    result = share(name_regex="^app-web-[0-9]+$")

    assert result["changed"] is False
    assert share.aws.calls() == LIST_CALLS
