"""Cross-account AMI semantics of the local AWS, seen over HTTP by two or three accounts."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_aws_support import SOURCE_UID
from local_aws_support import TARGET_UID
from local_aws_support import THIRD_UID
from local_aws_support import Account


def image_ids(answer: dict[str, Any]) -> set[str]:
    return {image["ImageId"] for image in answer["Images"]}


def share(source: Account, image_id: str, *principals: dict[str, str]) -> None:
    source.ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": list(principals)})


def unshare(source: Account, image_id: str, *principals: dict[str, str]) -> None:
    source.ec2.modify_image_attribute(
        ImageId=image_id, LaunchPermission={"Remove": list(principals)}
    )


def error_code(call: Any, **kwargs: Any) -> str:
    """The AWS error code the call fails with."""
    return error_of(call, **kwargs)[0]


def error_of(call: Any, **kwargs: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return (
        raised.value.response["Error"]["Code"],
        raised.value.response["ResponseMetadata"]["HTTPStatusCode"],
    )


def test_assumed_role_acts_as_the_role_account(source: Account, target: Account) -> None:
    assert source.client("sts").get_caller_identity()["Account"] == SOURCE_UID
    assert target.client("sts").get_caller_identity()["Account"] == TARGET_UID
    assert source.credentials["AccessKeyId"] != target.credentials["AccessKeyId"]


def test_target_sees_image_shared_with_it_through_executable_users_self(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    assert new_image in image_ids(target.ec2.describe_images(ExecutableUsers=["self"]))


def test_target_sees_shared_image_through_owners(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    assert new_image in image_ids(target.ec2.describe_images(Owners=[SOURCE_UID]))


def test_target_sees_shared_image_through_owner_id_filter(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    answer = target.ec2.describe_images(Filters=[{"Name": "owner-id", "Values": [SOURCE_UID]}])
    assert new_image in image_ids(answer)


def test_target_sees_shared_image_by_id_with_the_source_as_owner(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    images = target.ec2.describe_images(ImageIds=[new_image])["Images"]
    assert [image["ImageId"] for image in images] == [new_image]
    assert images[0]["OwnerId"] == SOURCE_UID


def test_image_not_shared_is_invisible_to_other_accounts(target: Account, new_image: str) -> None:
    assert target.ec2.describe_images(ImageIds=[new_image])["Images"] == []
    assert new_image not in image_ids(target.ec2.describe_images(Owners=[SOURCE_UID]))
    assert new_image not in image_ids(target.ec2.describe_images(ExecutableUsers=["self"]))


def test_shared_image_disappears_when_the_permission_is_removed(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})
    unshare(source, new_image, {"UserId": TARGET_UID})

    assert target.ec2.describe_images(ImageIds=[new_image])["Images"] == []
    assert new_image not in image_ids(target.ec2.describe_images(ExecutableUsers=["self"]))


def test_shared_image_disappears_when_deregistered(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})
    source.ec2.deregister_image(ImageId=new_image)

    assert target.ec2.describe_images(ImageIds=[new_image])["Images"] == []
    assert new_image not in image_ids(target.ec2.describe_images(Owners=[SOURCE_UID]))


def test_sharing_with_one_account_keeps_the_image_from_others(
    source: Account, third: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    assert third.ec2.describe_images(ImageIds=[new_image])["Images"] == []


def test_executable_users_with_an_account_id_returns_only_images_shared_with_it(
    source: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})
    public_image = source.ec2.register_image(Name="public-for-executable-users")["ImageId"]
    share(source, public_image, {"Group": "all"})

    shown = image_ids(source.ec2.describe_images(ExecutableUsers=[TARGET_UID]))

    assert new_image in shown
    assert public_image not in shown
    named = {
        image["Name"]
        for image in source.ec2.describe_images(ExecutableUsers=[TARGET_UID])["Images"]
    }
    assert "service-a-preshared" in named
    assert "page-00" not in named  # shared with the third account, not the target


def test_public_image_is_visible_to_every_account(
    source: Account, target: Account, third: Account, new_image: str
) -> None:
    share(source, new_image, {"Group": "all"})

    for account in (target, third):
        assert new_image in image_ids(account.ec2.describe_images(ImageIds=[new_image]))
        assert new_image in image_ids(account.ec2.describe_images(Owners=[SOURCE_UID]))
        assert new_image in image_ids(account.ec2.describe_images(ExecutableUsers=["all"]))
    # A public image is not "explicitly shared": ExecutableUsers=self leaves it out.
    assert new_image not in image_ids(third.ec2.describe_images(ExecutableUsers=["self"]))


def test_target_tags_on_shared_image_are_seen_by_the_target_only(
    source: Account, target: Account, new_image: str
) -> None:
    source.ec2.create_tags(Resources=[new_image], Tags=[{"Key": "origin", "Value": "source"}])
    share(source, new_image, {"UserId": TARGET_UID})

    target.ec2.create_tags(Resources=[new_image], Tags=[{"Key": "copied", "Value": "target"}])

    seen_by_target = target.ec2.describe_images(ImageIds=[new_image])["Images"][0]
    seen_by_source = source.ec2.describe_images(ImageIds=[new_image])["Images"][0]
    assert seen_by_target["Tags"] == [{"Key": "copied", "Value": "target"}]
    assert seen_by_source["Tags"] == [{"Key": "origin", "Value": "source"}]


def test_tag_filters_match_the_callers_own_tags(
    source: Account, target: Account, new_image: str
) -> None:
    source.ec2.create_tags(Resources=[new_image], Tags=[{"Key": "stage", "Value": "build"}])
    share(source, new_image, {"UserId": TARGET_UID})
    target.ec2.create_tags(Resources=[new_image], Tags=[{"Key": "stage", "Value": "consume"}])

    by_target_tag = target.ec2.describe_images(
        Filters=[{"Name": "tag:stage", "Values": ["consume"]}]
    )
    by_source_tag = target.ec2.describe_images(Filters=[{"Name": "tag:stage", "Values": ["build"]}])
    assert image_ids(by_target_tag) == {new_image}
    assert new_image not in image_ids(by_source_tag)


def test_target_can_delete_its_tags_on_shared_image(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})
    target.ec2.create_tags(
        Resources=[new_image],
        Tags=[{"Key": "keep", "Value": "1"}, {"Key": "drop", "Value": "2"}],
    )

    target.ec2.delete_tags(Resources=[new_image], Tags=[{"Key": "drop"}])

    tags = target.ec2.describe_images(ImageIds=[new_image])["Images"][0]["Tags"]
    assert tags == [{"Key": "keep", "Value": "1"}]


def test_target_cannot_tag_an_image_not_shared_with_it(target: Account, new_image: str) -> None:
    code, status = error_of(
        target.ec2.create_tags, Resources=[new_image], Tags=[{"Key": "k", "Value": "v"}]
    )
    assert (code, status) == ("InvalidAMIID.NotFound", 400)


def test_target_cannot_change_the_launch_permissions_of_a_shared_image(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    code, status = error_of(
        target.ec2.modify_image_attribute,
        ImageId=new_image,
        LaunchPermission={"Add": [{"UserId": THIRD_UID}]},
    )

    # moto's EC2 error model gives AuthFailure HTTP 401; the code is what callers branch on.
    assert (code, status) == ("AuthFailure", 401)
    permissions = source.ec2.describe_image_attribute(
        ImageId=new_image, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert permissions == [{"UserId": TARGET_UID}]


def test_target_cannot_read_the_launch_permissions_of_a_shared_image(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    code = error_code(
        target.ec2.describe_image_attribute, ImageId=new_image, Attribute="launchPermission"
    )
    assert code == "AuthFailure"


def test_target_cannot_deregister_a_shared_image(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    code = error_code(target.ec2.deregister_image, ImageId=new_image)

    assert code == "AuthFailure"
    assert image_ids(source.ec2.describe_images(ImageIds=[new_image])) == {new_image}


@pytest.mark.parametrize("operation", ["describe_image_attribute", "modify_image_attribute"])
def test_image_attribute_calls_on_an_unknown_image_are_not_found(
    source: Account, operation: str
) -> None:
    arguments: dict[str, Any] = {"ImageId": "ami-00000000000000000"}
    if operation == "describe_image_attribute":
        arguments["Attribute"] = "launchPermission"
    else:
        arguments["LaunchPermission"] = {"Add": [{"UserId": TARGET_UID}]}

    assert error_of(getattr(source.ec2, operation), **arguments) == ("InvalidAMIID.NotFound", 400)


def test_describe_images_with_an_id_no_account_has_is_not_found(target: Account) -> None:
    code, status = error_of(target.ec2.describe_images, ImageIds=["ami-0123456789abcdef0"])
    assert (code, status) == ("InvalidAMIID.NotFound", 400)


def test_owner_reads_and_changes_launch_permissions(source: Account, new_image: str) -> None:
    share(source, new_image, {"UserId": TARGET_UID}, {"UserId": THIRD_UID})
    unshare(source, new_image, {"UserId": THIRD_UID})

    permissions = source.ec2.describe_image_attribute(
        ImageId=new_image, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert permissions == [{"UserId": TARGET_UID}]


def test_shares_stay_in_their_region(target: Account) -> None:
    in_ireland = target.client("ec2", region="eu-west-1").describe_images(ExecutableUsers=["self"])[
        "Images"
    ]
    in_virginia = target.ec2.describe_images(ExecutableUsers=["self"])["Images"]

    assert [image["Name"] for image in in_ireland] == ["service-a-1.0"]
    assert "service-a-1.0" not in {image["Name"] for image in in_virginia}


def _page_through(ec2: Any, **arguments: Any) -> tuple[list[str], int]:
    names: list[str] = []
    pages = 0
    for page in ec2.get_paginator("describe_images").paginate(
        **arguments, PaginationConfig={"PageSize": 5}
    ):
        pages += 1
        assert len(page["Images"]) <= 5
        names.extend(image["Name"] for image in page["Images"])
    return names, pages


def test_describe_images_pages_through_shared_images(third: Account) -> None:
    names, pages = _page_through(third.ec2, ExecutableUsers=["self"])

    assert sorted(names) == [f"page-{i:02d}" for i in range(12)]
    assert pages == 3


def test_describe_images_pages_through_own_images(source: Account) -> None:
    names, pages = _page_through(source.ec2, Owners=["self"])

    everything = [image["Name"] for image in source.ec2.describe_images(Owners=["self"])["Images"]]
    assert names == everything
    assert pages == -(-len(everything) // 5)


def test_describe_images_rejects_a_forged_page_token(source: Account) -> None:
    code = error_code(source.ec2.describe_images, MaxResults=5, NextToken="not-a-token")
    assert code == "InvalidPaginationToken"


def tag_keys_of(account: Account, image_id: str) -> list[str]:
    answer = account.ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [image_id]}])
    return [tag["Key"] for tag in answer["Tags"]]


def test_deregistering_drops_the_owners_tags_too(
    source: Account, target: Account, new_image: str
) -> None:
    source.ec2.create_tags(Resources=[new_image], Tags=[{"Key": "origin", "Value": "source"}])
    share(source, new_image, {"UserId": TARGET_UID})
    target.ec2.create_tags(Resources=[new_image], Tags=[{"Key": "copied", "Value": "target"}])

    source.ec2.deregister_image(ImageId=new_image)

    assert tag_keys_of(source, new_image) == []
    assert tag_keys_of(target, new_image) == []


def test_copy_of_an_image_the_caller_cannot_see_is_not_found(
    target: Account, new_image: str
) -> None:
    code, status = error_of(
        target.ec2.copy_image, SourceImageId=new_image, SourceRegion="us-east-1", Name="copy"
    )
    assert (code, status) == ("InvalidAMIID.NotFound", 400)


def test_copy_of_a_shared_image_belongs_to_the_caller(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})
    (image,) = source.ec2.describe_images(ImageIds=[new_image])["Images"]
    # Copying needs createVolumePermission on the snapshot too (test_snapshots.py).
    source.ec2.modify_snapshot_attribute(
        SnapshotId=image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"],
        Attribute="createVolumePermission",
        CreateVolumePermission={"Add": [{"UserId": TARGET_UID}]},
    )

    copy_id = target.ec2.copy_image(
        SourceImageId=new_image, SourceRegion="us-east-1", Name="copy-of-shared"
    )["ImageId"]

    assert target.ec2.describe_images(ImageIds=[copy_id])["Images"][0]["OwnerId"] == TARGET_UID


def test_owner_resets_launch_permissions_to_private(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID}, {"Group": "all"})

    source.ec2.reset_image_attribute(ImageId=new_image, Attribute="launchPermission")

    permissions = source.ec2.describe_image_attribute(
        ImageId=new_image, Attribute="launchPermission"
    )["LaunchPermissions"]
    assert permissions == []
    assert target.ec2.describe_images(ImageIds=[new_image])["Images"] == []


def test_target_cannot_reset_the_launch_permissions_of_a_shared_image(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    code, status = error_of(
        target.ec2.reset_image_attribute, ImageId=new_image, Attribute="launchPermission"
    )

    assert (code, status) == ("AuthFailure", 401)
    assert new_image in image_ids(target.ec2.describe_images(ExecutableUsers=["self"]))


@pytest.mark.parametrize(
    ("image_id", "attribute", "expected"),
    [
        ("ami-00000000000000000", "launchPermission", "InvalidAMIID.NotFound"),
        ("ami-xyz", "launchPermission", "InvalidAMIID.Malformed"),
        (None, "description", "InvalidParameterValue"),
    ],
)
def test_reset_image_attribute_errors(
    source: Account, new_image: str, image_id: str | None, attribute: str, expected: str
) -> None:
    code, status = error_of(
        source.ec2.reset_image_attribute, ImageId=image_id or new_image, Attribute=attribute
    )
    assert (code, status) == (expected, 400)


@pytest.mark.parametrize(
    "attribute",
    ["launchPermission", "description", "blockDeviceMapping", "deregistrationProtection"],
)
def test_describe_image_attribute_of_an_unknown_image_is_not_found(
    source: Account, attribute: str
) -> None:
    code, status = error_of(
        source.ec2.describe_image_attribute, ImageId="ami-00000000000000000", Attribute=attribute
    )
    assert (code, status) == ("InvalidAMIID.NotFound", 400)


MALFORMED_IMAGE_IDS = [
    "ami-xyz",
    "ami-",
    "ami-123",
    "ami-ZZZZZZZZZZZZZZZZZ",
    "ami-0123456789ABCDEF0",
]


@pytest.mark.parametrize("image_id", MALFORMED_IMAGE_IDS)
def test_malformed_image_ids_are_refused_as_malformed(source: Account, image_id: str) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = [
        (source.ec2.describe_images, {"ImageIds": [image_id]}),
        (
            source.ec2.describe_image_attribute,
            {"ImageId": image_id, "Attribute": "launchPermission"},
        ),
        (
            source.ec2.modify_image_attribute,
            {"ImageId": image_id, "LaunchPermission": {"Add": [{"UserId": TARGET_UID}]}},
        ),
    ]
    for call, arguments in calls:
        assert error_of(call, **arguments) == ("InvalidAMIID.Malformed", 400), call


@pytest.mark.parametrize("image_id", MALFORMED_IMAGE_IDS)
def test_create_tags_on_a_malformed_image_id_is_invalid_id(source: Account, image_id: str) -> None:
    code, status = error_of(
        source.ec2.create_tags, Resources=[image_id], Tags=[{"Key": "k", "Value": "v"}]
    )
    assert (code, status) == ("InvalidID", 400)


@pytest.mark.parametrize("image_id", ["ami-0123abcd", "ami-0123456789abcdef0"])
def test_well_formed_unknown_image_ids_are_not_found(source: Account, image_id: str) -> None:
    assert error_of(source.ec2.describe_images, ImageIds=[image_id]) == (
        "InvalidAMIID.NotFound",
        400,
    )


def test_run_instances_from_an_image_not_shared_is_not_found(
    source: Account, target: Account, new_image: str
) -> None:
    code, status = error_of(target.ec2.run_instances, ImageId=new_image, MinCount=1, MaxCount=1)
    assert (code, status) == ("InvalidAMIID.NotFound", 400)


def test_run_instances_from_a_shared_image_works(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"UserId": TARGET_UID})

    reservation = target.ec2.run_instances(ImageId=new_image, MinCount=1, MaxCount=1)

    assert reservation["Instances"][0]["ImageId"] == new_image
    assert reservation["OwnerId"] == TARGET_UID
