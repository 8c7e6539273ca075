"""The --seed file: what it creates, that its image IDs are stable, and what it refuses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from local_aws_support import REPO
from local_aws_support import SOURCE_UID
from local_aws_support import TARGET_UID
from local_aws_support import Account
from local_aws_support import local_aws

sys.path.insert(0, str(REPO))

from tools.local_aws.seed import SeedError
from tools.local_aws.seed import image_id_for
from tools.local_aws.seed import load_seed
from tools.local_aws.seed import parse_seed


def by_name(ec2: Any, **arguments: Any) -> dict[str, dict[str, Any]]:
    return {image["Name"]: image for image in ec2.describe_images(**arguments)["Images"]}


def test_seeded_images_have_their_names_tags_and_states(source: Account) -> None:
    images = by_name(source.ec2, Owners=["self"])

    assert images["service-a-1.0"]["State"] == "available"
    assert images["service-a-1.0"]["Description"] == "first build of service a"
    assert sorted(images["service-a-1.0"]["Tags"], key=lambda tag: tag["Key"]) == [
        {"Key": "app", "Value": "service-a"},
        {"Key": "version", "Value": "1.0"},
    ]
    assert images["service-a-pending"]["State"] == "pending"
    assert images["service-a-failed"]["State"] == "failed"
    assert images["service-a-pending"].get("Tags", []) == []


def test_seeded_image_ids_derive_from_account_region_and_name(source: Account) -> None:
    images = by_name(source.ec2, Owners=["self"])
    in_ireland = by_name(source.client("ec2", region="eu-west-1"), Owners=["self"])

    for name, image in images.items():
        assert image["ImageId"] == image_id_for(SOURCE_UID, "us-east-1", name)
    assert in_ireland["service-a-1.0"]["ImageId"] == image_id_for(
        SOURCE_UID, "eu-west-1", "service-a-1.0"
    )
    assert in_ireland["service-a-1.0"]["ImageId"] != images["service-a-1.0"]["ImageId"]


def test_image_ids_look_like_aws_image_ids() -> None:
    image_id = image_id_for(SOURCE_UID, "us-east-1", "service-a-1.0")

    assert image_id.startswith("ami-")
    assert len(image_id) == len("ami-") + 17
    assert int(image_id[4:], 16) >= 0


def _root_snapshot(account: Account, image: dict[str, Any]) -> dict[str, Any]:
    snapshot_id = image["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    return account.ec2.describe_snapshots(SnapshotIds=[snapshot_id])["Snapshots"][0]


def test_seeded_customer_key_encrypts_the_root_snapshot(source: Account) -> None:
    image = by_name(source.ec2, Owners=["self"])["service-a-encrypted-cmk"]
    key = source.client("kms").describe_key(KeyId="alias/ami-build-key")["KeyMetadata"]

    assert image["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    snapshot = _root_snapshot(source, image)
    assert snapshot["Encrypted"] is True
    assert snapshot["KmsKeyId"] == key["Arn"]
    assert key["KeyManager"] == "CUSTOMER"


def test_seeded_default_key_is_the_aws_managed_ebs_key(source: Account) -> None:
    image = by_name(source.ec2, Owners=["self"])["service-a-encrypted-default"]
    key = source.client("kms").describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]

    assert _root_snapshot(source, image)["KmsKeyId"] == key["Arn"]
    assert key["KeyManager"] == "AWS"


def test_unencrypted_seeded_image_says_so(source: Account) -> None:
    image = by_name(source.ec2, Owners=["self"])["service-a-1.0"]

    assert image["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is False


def test_seeded_launch_permissions_share_the_image(source: Account, target: Account) -> None:
    shared = by_name(target.ec2, ExecutableUsers=["self"])

    assert set(shared) == {"service-a-preshared"}
    assert shared["service-a-preshared"]["OwnerId"] == SOURCE_UID
    permissions = source.ec2.describe_image_attribute(
        ImageId=shared["service-a-preshared"]["ImageId"], Attribute="launchPermission"
    )["LaunchPermissions"]
    assert permissions == [{"UserId": TARGET_UID}]


def test_only_seeded_images_exist_not_motos_public_catalogue(third: Account) -> None:
    public = by_name(third.ec2, ExecutableUsers=["all"])

    assert set(public) == {"base-public"}


def test_count_generates_numbered_images(third: Account) -> None:
    shared = by_name(third.ec2, ExecutableUsers=["self"])

    assert sorted(shared) == [f"page-{i:02d}" for i in range(12)]


def test_count_numbers_descriptions_and_tag_values_that_ask_for_it() -> None:
    document = yaml.safe_load(
        "accounts:\n"
        f'  - uid: "{SOURCE_UID}"\n'
        "    regions:\n"
        "      us-east-1:\n"
        "        images:\n"
        "          - name: 'app-{i:03d}'\n"
        "            count: 3\n"
        "            description: 'build {i} of app'\n"
        "            tags: {version: '1.{i}', app: app, note: 'a {literal} brace'}\n"
    )

    images = parse_seed(document)[(SOURCE_UID, "us-east-1")]

    assert [image.description for image in images] == [
        "build 0 of app",
        "build 1 of app",
        "build 2 of app",
    ]
    assert [image.tags for image in images] == [
        {"version": f"1.{i}", "app": "app", "note": "a {literal} brace"} for i in range(3)
    ]


def test_ten_thousand_seeded_images_load_in_seconds_with_the_same_ids(tmp_path: Path) -> None:
    seed = tmp_path / "large.yml"
    seed.write_text(
        "accounts:\n"
        f'  - uid: "{SOURCE_UID}"\n'
        "    regions:\n"
        "      us-east-1:\n"
        "        images:\n"
        '          - {name: "bench-{i:05d}", count: 10000, tags: {app: bench}}\n',
        encoding="utf-8",
    )

    with local_aws("--seed", str(seed)) as running:
        ec2 = Account(running.url, SOURCE_UID).ec2
        page = ec2.describe_images(Owners=["self"], MaxResults=5)

    assert running.started_in < 10
    assert len(page["Images"]) == 5
    assert "NextToken" in page
    first = page["Images"][0]
    assert first["ImageId"] == image_id_for(SOURCE_UID, "us-east-1", first["Name"])


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        ({"accounts": [{"uid": 111111111111}]}, "quoted 12-digit"),
        ({"accounts": [{"uid": "1234"}]}, "quoted 12-digit"),
        (
            {"accounts": [{"uid": "111111111111", "regions": {"us-east-1": {"images": [{}]}}}]},
            "needs at least a name",
        ),
        (
            {
                "accounts": [
                    {
                        "uid": "111111111111",
                        "regions": {"us-east-1": {"images": [{"name": "a", "state": "gone"}]}},
                    }
                ]
            },
            "state must be one of",
        ),
        (
            {
                "accounts": [
                    {
                        "uid": "111111111111",
                        "regions": {"us-east-1": {"images": [{"name": "a"}, {"name": "a"}]}},
                    }
                ]
            },
            "unique",
        ),
        (
            {
                "accounts": [
                    {
                        "uid": "111111111111",
                        "regions": {"us-east-1": {"images": [{"name": "a", "count": 3}]}},
                    }
                ]
            },
            "must use {i}",
        ),
        (
            {
                "accounts": [
                    {
                        "uid": "111111111111",
                        "regions": {
                            "us-east-1": {
                                "images": [{"name": "a", "launch_permissions": [222222222222]}]
                            }
                        },
                    }
                ]
            },
            "quoted",
        ),
        ({"images": []}, "'accounts' list"),
    ],
)
def test_seed_in_the_wrong_shape_is_refused_with_the_place(document: Any, complaint: str) -> None:
    with pytest.raises(SeedError, match=f".*{complaint.replace('{', '[{]')}"):
        parse_seed(document)


def test_empty_seed_creates_nothing() -> None:
    assert parse_seed(None) == {}


def _seed_text(image: str = "{name: a}", account: str = "", region: str = "", top: str = "") -> str:
    """A one-image seed in YAML, with extra lines at the account, region or top level."""
    return (
        f"{top}accounts:\n"
        f'  - uid: "{SOURCE_UID}"\n'
        f"{account}"
        "    regions:\n"
        "      us-east-1:\n"
        f"{region}"
        f"        images:\n"
        f"          - {image}\n"
    )


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        (_seed_text(top="extra: 1\n"), "unknown field(s) ['extra']"),
        (_seed_text(account="    role: x\n"), "accounts[0]: unknown field(s) ['role']"),
        (
            _seed_text(region="        owner: x\n"),
            "accounts[0].regions.us-east-1: unknown field(s) ['owner']",
        ),
        (_seed_text(image='{name: ""}'), "images[0].name: must not be empty"),
        (_seed_text(image='{name: "lit-{i}"}'), "images[0].name: {i} is numbered by count"),
        (_seed_text(image='{name: a, kms_key: ""}'), "images[0].kms_key: must not be empty"),
        (
            _seed_text(image="{name: a, tags: {price: 1.50}}"),
            "tags.price: expected a string; quote the value",
        ),
        (_seed_text(image="{name: a, tags: {on: true}}"), "quote the value"),
    ],
    ids=[
        "top-level-field",
        "account-field",
        "region-field",
        "empty-name",
        "numbered-name-without-count",
        "empty-kms-key",
        "numeric-tag-value",
        "boolean-tag-value",
    ],
)
def test_seed_text_in_the_wrong_shape_is_refused_with_the_place(text: str, complaint: str) -> None:
    with pytest.raises(SeedError) as raised:
        parse_seed(yaml.safe_load(text))
    assert complaint in str(raised.value)


def test_the_same_account_listed_twice_is_refused() -> None:
    text = _seed_text() + f'  - uid: "{SOURCE_UID}"\n'

    with pytest.raises(SeedError) as raised:
        parse_seed(yaml.safe_load(text))

    assert str(raised.value) == (f"accounts[1].uid: {SOURCE_UID} is already listed at accounts[0]")


def test_an_unquoted_uid_is_refused_without_the_number_yaml_made_of_it() -> None:
    with pytest.raises(SeedError) as raised:
        parse_seed(yaml.safe_load("accounts:\n  - uid: 011111111111\n"))

    message = str(raised.value)
    assert "quote" in message
    assert "1227133513" not in message  # what YAML's octal reading made of it


def test_seed_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    seed = tmp_path / "latin1.yml"
    seed.write_bytes(_seed_text(image="{name: caf\xe9}").encode("latin-1"))

    with pytest.raises(SeedError, match="not UTF-8 text"):
        load_seed(seed)


def test_empty_seed_file_is_a_seed_of_no_images(tmp_path: Path) -> None:
    seed = tmp_path / "empty.yml"
    seed.write_text("# nothing yet\n", encoding="utf-8")

    assert load_seed(seed) == 0
