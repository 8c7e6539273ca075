"""Snapshot permissions and KMS grants of the local AWS, seen over HTTP by two or three accounts."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_aws_support import SOURCE_UID
from local_aws_support import TARGET_UID
from local_aws_support import Account

USE_A_SHARED_KEY = [
    "Decrypt",
    "DescribeKey",
    "CreateGrant",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
]


def code_of(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return raised.value.response["Error"]["Code"]


def root_snapshot(account: Account, image_id: str) -> str:
    (image,) = account.ec2.describe_images(ImageIds=[image_id])["Images"]
    return image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]


def permit(source: Account, snapshot_id: str, verb: str, uid: str = TARGET_UID) -> None:
    source.ec2.modify_snapshot_attribute(
        SnapshotId=snapshot_id,
        Attribute="createVolumePermission",
        CreateVolumePermission={verb: [{"UserId": uid}]},
    )


def restorable_ids(account: Account, **params: Any) -> set[str]:
    pages = account.ec2.get_paginator("describe_snapshots").paginate(**params)
    return {s["SnapshotId"] for page in pages for s in page["Snapshots"]}


@pytest.fixture
def shared_image(source: Account, new_image: str) -> tuple[str, str]:
    """A fresh image of the source with a launch permission for the target, and its snapshot."""
    source.ec2.modify_image_attribute(
        ImageId=new_image, LaunchPermission={"Add": [{"UserId": TARGET_UID}]}
    )
    return new_image, root_snapshot(source, new_image)


def test_create_volume_permission_is_added_read_and_removed_in_the_sdk_form(
    source: Account, shared_image: tuple[str, str]
) -> None:
    snapshot_id = shared_image[1]

    permit(source, snapshot_id, "Add")
    added = source.ec2.describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission"
    )["CreateVolumePermissions"]
    permit(source, snapshot_id, "Remove")
    removed = source.ec2.describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission"
    )["CreateVolumePermissions"]

    assert added == [{"UserId": TARGET_UID}]
    assert removed == []


def test_the_target_sees_a_snapshot_only_once_permitted(
    source: Account, target: Account, shared_image: tuple[str, str]
) -> None:
    snapshot_id = shared_image[1]

    before = restorable_ids(target, RestorableByUserIds=["self"])
    permit(source, snapshot_id, "Add")
    after = restorable_ids(target, RestorableByUserIds=["self"])

    assert snapshot_id not in before
    assert snapshot_id in after
    assert restorable_ids(target, OwnerIds=["self"]) & {snapshot_id} == set()


def test_owner_lists_the_snapshots_restorable_by_one_account_in_pages(
    source: Account, new_image: str
) -> None:
    permitted = []
    for number in range(7):
        image_id = source.ec2.register_image(Name=f"{new_image}-page-{number}")["ImageId"]
        permitted.append(root_snapshot(source, image_id))
        permit(source, permitted[-1], "Add", "444444444444")

    pages = list(
        source.ec2.get_paginator("describe_snapshots").paginate(
            OwnerIds=["self"],
            RestorableByUserIds=["444444444444"],
            PaginationConfig={"PageSize": 5},
        )
    )

    assert [len(page["Snapshots"]) for page in pages] == [5, 2]
    assert {s["SnapshotId"] for page in pages for s in page["Snapshots"]} == set(permitted)


def test_ids_the_caller_cannot_see_are_not_found_and_ids_with_max_results_refused(
    source: Account, target: Account, shared_image: tuple[str, str]
) -> None:
    snapshot_id = shared_image[1]

    assert code_of(target.ec2.describe_snapshots, SnapshotIds=[snapshot_id]) == (
        "InvalidSnapshot.NotFound"
    )
    assert code_of(source.ec2.describe_snapshots, SnapshotIds=[snapshot_id], MaxResults=5) == (
        "InvalidParameterCombination"
    )


def test_only_the_owner_manages_a_snapshot_permission(
    source: Account, target: Account, shared_image: tuple[str, str]
) -> None:
    snapshot_id = shared_image[1]
    permit(source, snapshot_id, "Add")

    assert code_of(
        target.ec2.describe_snapshot_attribute,
        SnapshotId=snapshot_id,
        Attribute="createVolumePermission",
    ) == ("AuthFailure")
    with pytest.raises(ClientError):
        permit(target, snapshot_id, "Add", "333333333333")


def test_copying_a_shared_image_needs_the_snapshot_permission(
    source: Account, target: Account, shared_image: tuple[str, str]
) -> None:
    image_id, snapshot_id = shared_image

    refused = code_of(
        target.ec2.copy_image, SourceImageId=image_id, SourceRegion="us-east-1", Name="copy-1"
    )
    permit(source, snapshot_id, "Add")
    copied = target.ec2.copy_image(SourceImageId=image_id, SourceRegion="us-east-1", Name="copy-2")

    assert refused == "AuthFailure"
    assert copied["ImageId"].startswith("ami-")


def test_an_encrypted_shared_image_needs_a_grant_on_its_key(
    source: Account, target: Account
) -> None:
    images = source.ec2.describe_images(Owners=["self"])["Images"]
    (image,) = [i for i in images if i["Name"] == "service-a-encrypted-cmk"]
    image_id = image["ImageId"]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    key_arn = source.client("kms").describe_key(KeyId="alias/ami-build-key")["KeyMetadata"]["Arn"]
    source.ec2.modify_image_attribute(
        ImageId=image_id, LaunchPermission={"Add": [{"UserId": TARGET_UID}]}
    )
    permit(source, snapshot_id, "Add")
    copy = {"SourceImageId": image_id, "SourceRegion": "us-east-1", "Name": "enc-copy"}

    without_grant = code_of(target.ec2.copy_image, **copy)
    launch_without = code_of(target.ec2.run_instances, ImageId=image_id, MinCount=1, MaxCount=1)
    grant = {
        "KeyId": key_arn,
        "GranteePrincipal": f"arn:aws:iam::{TARGET_UID}:root",
        "Operations": USE_A_SHARED_KEY,
        "Name": "resource-sharing-aws-test",
    }
    first = source.client("kms").create_grant(**grant)["GrantId"]
    again = source.client("kms").create_grant(**grant)["GrantId"]
    copied = target.ec2.copy_image(**copy)
    grants = source.client("kms").list_grants(KeyId=key_arn)["Grants"]

    assert (without_grant, launch_without) == ("AuthFailure", "AuthFailure")
    assert first == again
    assert [g["Name"] for g in grants] == ["resource-sharing-aws-test"]
    assert copied["ImageId"].startswith("ami-")
    source.client("kms").revoke_grant(KeyId=key_arn, GrantId=first)


def test_a_grant_with_an_operation_kms_does_not_know_is_refused(source: Account) -> None:
    key_arn = source.client("kms").describe_key(KeyId="alias/ami-build-key")["KeyMetadata"]["Arn"]

    code = code_of(
        source.client("kms").create_grant,
        KeyId=key_arn,
        GranteePrincipal=f"arn:aws:iam::{TARGET_UID}:root",
        Operations=["ReEncrypt*"],
    )

    assert code == "ValidationException"
    assert SOURCE_UID in key_arn
