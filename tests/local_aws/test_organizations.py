"""Organization and OU launch permissions: the seed's members see and launch the images."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from local_aws_support import SEED
from local_aws_support import SOURCE_UID
from local_aws_support import TARGET_UID
from local_aws_support import THIRD_UID
from local_aws_support import Account
from local_aws_support import RunningServer
from local_aws_support import local_aws

from tools.local_aws.seed import SeedError
from tools.local_aws.seed import parse_organizations

ORG = f"arn:aws:organizations::{SOURCE_UID}:organization/o-localtest01"
OU = f"arn:aws:organizations::{SOURCE_UID}:ou/o-localtest01/ou-loca-unit0001"
OU_MEMBER_UID = "444444444444"


@pytest.fixture(scope="module")
def organization_server() -> Iterator[RunningServer]:
    """A server of this module's own: its shares would make the session server's views grow."""
    with local_aws("--seed", str(SEED)) as running:
        yield running


@pytest.fixture(scope="module")
def source(organization_server: RunningServer) -> Account:
    return Account(organization_server.url, SOURCE_UID)


@pytest.fixture(scope="module")
def target(organization_server: RunningServer) -> Account:
    return Account(organization_server.url, TARGET_UID)


@pytest.fixture(scope="module")
def third(organization_server: RunningServer) -> Account:
    return Account(organization_server.url, THIRD_UID)


@pytest.fixture(scope="module")
def ou_member(organization_server: RunningServer) -> Account:
    return Account(organization_server.url, OU_MEMBER_UID)


def share(source: Account, image_id: str, permission: dict[str, str]) -> None:
    source.ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": [permission]})


def ids(account: Account, **arguments: Any) -> set[str]:
    return {i["ImageId"] for i in account.ec2.describe_images(**arguments)["Images"]}


def test_organization_members_see_an_organization_share_and_others_do_not(
    source: Account, target: Account, ou_member: Account, third: Account, new_image: str
) -> None:
    share(source, new_image, {"OrganizationArn": ORG})

    for member in (target, ou_member):
        assert new_image in ids(member, ExecutableUsers=["self"])
        assert new_image in ids(member)
        assert new_image in ids(member, ExecutableUsers=[member.uid])
    assert new_image not in ids(third)
    assert new_image not in ids(third, ExecutableUsers=["self"])


def test_an_ou_share_reaches_the_ou_accounts_only(
    source: Account, target: Account, ou_member: Account, new_image: str
) -> None:
    share(source, new_image, {"OrganizationalUnitArn": OU})

    assert new_image in ids(ou_member, ExecutableUsers=["self"])
    # The target is in the organization's root, not in the OU.
    assert new_image not in ids(target)


def test_executable_users_naming_another_account_ignores_organization_shares(
    source: Account, new_image: str
) -> None:
    share(source, new_image, {"OrganizationArn": ORG})

    assert new_image not in ids(source, Owners=["self"], ExecutableUsers=[TARGET_UID])


def test_members_launch_an_organization_share_and_others_cannot(
    source: Account, target: Account, third: Account, new_image: str
) -> None:
    share(source, new_image, {"OrganizationArn": ORG})

    reservation = target.ec2.run_instances(ImageId=new_image, MinCount=1, MaxCount=1)

    assert reservation["Instances"][0]["ImageId"] == new_image
    with pytest.raises(ClientError) as refused:
        third.ec2.run_instances(ImageId=new_image, MinCount=1, MaxCount=1)
    assert refused.value.response["Error"]["Code"] == "InvalidAMIID.NotFound"


def test_a_member_copies_an_organization_share_with_snapshot_permission(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"OrganizationArn": ORG})
    image = source.ec2.describe_images(ImageIds=[new_image])["Images"][0]
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]

    # As for an image shared with the account itself: copying needs the snapshots too.
    with pytest.raises(ClientError) as refused:
        target.ec2.copy_image(SourceImageId=new_image, SourceRegion="us-east-1", Name="early")
    source.ec2.modify_snapshot_attribute(
        SnapshotId=snapshot_id,
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[TARGET_UID],
    )
    copy_id = target.ec2.copy_image(
        SourceImageId=new_image, SourceRegion="us-east-1", Name="copy-of-org-share"
    )["ImageId"]

    assert refused.value.response["Error"]["Code"] == "AuthFailure"
    assert target.ec2.describe_images(ImageIds=[copy_id])["Images"][0]["OwnerId"] == TARGET_UID


def test_the_owner_reads_organization_permissions_back(source: Account, new_image: str) -> None:
    share(source, new_image, {"OrganizationArn": ORG})
    share(source, new_image, {"OrganizationalUnitArn": OU})

    answer = source.ec2.describe_image_attribute(ImageId=new_image, Attribute="launchPermission")

    assert answer["LaunchPermissions"] == [{"OrganizationArn": ORG}, {"OrganizationalUnitArn": OU}]


def test_removing_the_organization_permission_hides_the_image_again(
    source: Account, target: Account, new_image: str
) -> None:
    share(source, new_image, {"OrganizationArn": ORG})
    source.ec2.modify_image_attribute(
        ImageId=new_image, LaunchPermission={"Remove": [{"OrganizationArn": ORG}]}
    )

    assert new_image not in ids(target)


def test_seed_organizations_reach_management_root_and_ou_accounts() -> None:
    members = parse_organizations(
        {
            "organizations": [
                {
                    "id": "o-abcdefghij",
                    "management_account": "111111111111",
                    "accounts": ["222222222222"],
                    "organizational_units": [
                        {"id": "ou-abcd-efghijkl", "accounts": ["333333333333"]}
                    ],
                }
            ]
        }
    )

    assert members == {
        "arn:aws:organizations::111111111111:organization/o-abcdefghij": frozenset(
            {"111111111111", "222222222222", "333333333333"}
        ),
        "arn:aws:organizations::111111111111:ou/o-abcdefghij/ou-abcd-efghijkl": frozenset(
            {"333333333333"}
        ),
    }


@pytest.mark.parametrize(
    ("organization", "complaint"),
    [
        ({"id": "o-short", "management_account": "111111111111"}, r"organizations\[0\]\.id"),
        (
            {"id": "o-abcdefghij", "management_account": 111111111111},
            r"organizations\[0\]\.management_account: expected a quoted",
        ),
        (
            {"id": "o-abcdefghij", "management_account": "111111111111", "owner": "x"},
            r"organizations\[0\]: unknown field",
        ),
        (
            {
                "id": "o-abcdefghij",
                "management_account": "111111111111",
                "accounts": ["111111111111"],
            },
            r"organizations\[0\]\.accounts\[0\]: account 111111111111 is already placed",
        ),
        (
            {
                "id": "o-abcdefghij",
                "management_account": "111111111111",
                "organizational_units": [{"id": "ou-x", "accounts": []}],
            },
            r"organizations\[0\]\.organizational_units\[0\]\.id",
        ),
    ],
)
def test_seed_organizations_in_the_wrong_shape_are_refused_with_the_place(
    organization: dict[str, Any], complaint: str
) -> None:
    with pytest.raises(SeedError, match=complaint):
        parse_organizations({"organizations": [organization]})
