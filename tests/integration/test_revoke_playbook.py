# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""The role with ami_share_revoke: account files -> inventory -> role -> ami_revoke -> local AWS."""

from __future__ import annotations

import json
import shutil

from harness import MUTATING
from harness import REPO
from harness import run_playbook

FLEET = REPO / "tests" / "fixtures" / "revoke" / "fleet"
BUILDER, STAGE, PROD, STRANGER = "100000000001", "200000000002", "000000000003", "999999999999"
REVOKE = ("-e", json.dumps({"ami_share_revoke": True, "ami_share_revoke_regions": ["us-west-2"]}))


def permissions(aws, region: str) -> dict[str, set[str]]:
    source = aws.ec2(BUILDER, region)
    return {
        image["Name"]: {
            p["UserId"]
            for p in source.describe_image_attribute(
                ImageId=image["ImageId"], Attribute="launchPermission"
            )["LaunchPermissions"]
        }
        for image in source.describe_images(Owners=["self"])["Images"]
    }


def test_revocation_is_off_by_default_and_costs_nothing(local_aws_factory):
    aws = local_aws_factory(FLEET / "local-aws-seed.yml")

    run = run_playbook(
        aws, FLEET / "inventory.app_interface.yml", "-e", "ami_share_copy_tags=false"
    )

    assert run.returncode == 0, run.output
    assert "ec2:DescribeImageAttribute" not in aws.calls()
    assert permissions(aws, "us-west-2") == {"service-a-west-1": {PROD}}


def test_check_mode_then_apply_removes_what_the_files_no_longer_declare(local_aws_factory):
    aws = local_aws_factory(FLEET / "local-aws-seed.yml")
    inventory = FLEET / "inventory.app_interface.yml"
    aws.reset_calls()

    preview = run_playbook(aws, inventory, *REVOKE, "--check", "--diff")

    assert preview.returncode == 0, preview.output
    assert not MUTATING & set(aws.calls())
    assert (
        "builder revoke us-east-1: revoked 1, undeclared 1, failed 0 (check mode" in preview.output
    )
    assert (
        "builder revoke us-west-2: revoked 1, undeclared 0, failed 0 (check mode" in preview.output
    )
    assert f"is shared with {STRANGER}, which no account file declares (kept)" in preview.output

    applied = run_playbook(aws, inventory, *REVOKE)

    assert applied.returncode == 0, applied.output
    assert permissions(aws, "us-east-1") == {
        "service-a-1": {STAGE},
        "service-a-2": {STAGE, STRANGER},
        "service-b-1": set(),
    }
    assert permissions(aws, "us-west-2") == {"service-a-west-1": set()}
    again = run_playbook(aws, inventory, *REVOKE)
    assert again.changed == 0, again.output


def test_revoke_undeclared_removes_accounts_without_a_file(local_aws_factory):
    aws = local_aws_factory(FLEET / "local-aws-seed.yml")
    flags = ("-e", json.dumps({"ami_share_revoke": True, "ami_share_revoke_undeclared": True}))

    run = run_playbook(aws, FLEET / "inventory.app_interface.yml", *flags)

    assert run.returncode == 0, run.output
    assert permissions(aws, "us-east-1")["service-a-2"] == {STAGE}


def test_with_ami_share_snapshots_revocation_also_takes_the_snapshot_permission_back(
    local_aws_factory,
):
    aws = local_aws_factory(FLEET / "local-aws-seed.yml")
    source = aws.ec2(BUILDER, "us-east-1")
    images = {i["Name"]: i for i in source.describe_images(Owners=["self"])["Images"]}
    stale = images["service-b-1"]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
    # As an earlier run with ami_share_snapshots left it, before the entry was deleted.
    source.modify_snapshot_attribute(
        SnapshotId=stale,
        Attribute="createVolumePermission",
        CreateVolumePermission={"Add": [{"UserId": STAGE}]},
    )
    snapshots = ("-e", "ami_share_snapshots=true", "-e", "ami_share_copy_tags=false")

    run = run_playbook(aws, FLEET / "inventory.app_interface.yml", *REVOKE, *snapshots)

    assert run.returncode == 0, run.output
    restorable = aws.ec2(STAGE, "us-east-1").describe_snapshots(RestorableByUserIds=["self"])
    kept = {s["SnapshotId"] for s in restorable["Snapshots"]}
    assert stale not in kept
    assert kept == {
        images[name]["BlockDeviceMappings"][0]["Ebs"]["SnapshotId"]
        for name in ("service-a-1", "service-a-2")
    }
    assert permissions(aws, "us-east-1")["service-b-1"] == set()


def test_a_source_whose_sharing_became_an_empty_list_loses_every_declared_share(
    local_aws_factory, tmp_path
):
    aws = local_aws_factory(FLEET / "local-aws-seed.yml")
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET, fleet)
    builder = fleet / "data" / "aws" / "builder" / "account.yml"
    builder.write_text(builder.read_text().split("sharing:")[0] + "sharing: []\n")

    run = run_playbook(aws, fleet / "inventory.app_interface.yml", *REVOKE)

    assert run.returncode == 0, run.output
    assert permissions(aws, "us-east-1") == {
        "service-a-1": set(),
        "service-a-2": {STRANGER},  # No file declares it: reported and kept.
        "service-b-1": set(),
    }
    assert permissions(aws, "us-west-2") == {"service-a-west-1": set()}
