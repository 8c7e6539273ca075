# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Revocation against the local AWS: `ami_share state=absent` and the `ami_revoke` module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import MUTATING
from harness import REPO
from harness import LocalAws
from harness import run_module
from harness import start_local_aws

SEED = REPO / "tests" / "fixtures" / "revoke" / "local-aws-seed.yml"
MODULES = REPO / "tests" / "fixtures" / "module"
SOURCE, TARGET, KNOWN, UNDECLARED = "111111111111", "022222222222", "044444444444", "055555555555"
KNOWN_ACCOUNTS = [SOURCE, TARGET, KNOWN]


def role(uid: str) -> str:
    return f"arn:aws:iam::{uid}:role/ami-share"


class Revoker:
    """Runs ami_revoke or ami_share against one local AWS and reads permissions back."""

    def __init__(self, aws: LocalAws, workdir: Path) -> None:
        self.aws = aws
        self.workdir = workdir

    def revoke(self, *flags: str, **options) -> dict:
        args = {
            "region": "us-east-1",
            "source_account_id": SOURCE,
            "source_role_arn": role(SOURCE),
            "shares": [{"target": TARGET, "regex": "^rv-web-"}],
            "known_accounts": KNOWN_ACCOUNTS,
            "endpoint_url": self.aws.url,
            **options,
        }
        return run_module(self.aws, MODULES / "run-ami-revoke.yml", args, self.workdir, *flags)

    def share(self, *flags: str, **options) -> dict:
        args = {
            "region": "us-east-1",
            "name_regex": "^rv-",
            "source_account_id": SOURCE,
            "target_account_id": TARGET,
            "source_role_arn": role(SOURCE),
            "copy_tags": False,
            "endpoint_url": self.aws.url,
            **options,
        }
        return run_module(self.aws, MODULES / "run-ami-share.yml", args, self.workdir, *flags)

    def permissions(self, region: str = "us-east-1") -> dict[str, set[str]]:
        """Image name -> principals of its launch permissions, read as the source."""
        source = self.aws.ec2(SOURCE, region)
        found = {}
        for image in source.describe_images(Owners=["self"])["Images"]:
            answer = source.describe_image_attribute(
                ImageId=image["ImageId"], Attribute="launchPermission"
            )
            found[image["Name"]] = {
                p.get("UserId") or p.get("Group") for p in answer["LaunchPermissions"]
            }
        return found


SEEDED = {
    "rv-web-1": {TARGET},
    "rv-web-2": {TARGET, KNOWN},
    "rv-old-1": {TARGET},
    "rv-web-3": {UNDECLARED},
    "rv-pub-1": {"all"},
    "rv-private-1": set(),
}


@pytest.fixture
def revoker(local_aws_factory, tmp_path) -> Revoker:
    return Revoker(local_aws_factory(SEED), tmp_path)


@dataclass
class Revoked:
    """One server after a check-mode preview, a real run and a second run."""

    revoker: Revoker
    preview: dict
    preview_calls: dict[str, int]
    preview_permissions: dict[str, set[str]]
    first: dict
    first_permissions: dict[str, set[str]]
    second: dict
    second_calls: dict[str, int]


@pytest.fixture(scope="module")
def revoked(tmp_path_factory) -> Iterator[Revoked]:
    with start_local_aws(SEED) as aws:
        revoker = Revoker(aws, tmp_path_factory.mktemp("revoked"))
        aws.reset_calls()
        preview = revoker.revoke("--check", "--diff")
        preview_calls = aws.calls()
        preview_permissions = revoker.permissions()
        first = revoker.revoke()
        first_permissions = revoker.permissions()
        aws.reset_calls()
        second = revoker.revoke()
        second_calls = aws.calls()
        yield Revoked(
            revoker,
            preview,
            preview_calls,
            preview_permissions,
            first,
            first_permissions,
            second,
            second_calls,
        )


def test_check_mode_reports_every_stale_permission_and_changes_nothing(revoked):
    result = revoked.preview

    assert result["changed"] is True
    # Public access no entry allows is the source's own stale decision: removed, not reported.
    assert {(r["name"], r["principal"]) for r in result["revoked"]} == {
        ("rv-old-1", TARGET),
        ("rv-pub-1", "all"),
        ("rv-web-2", KNOWN),
    }
    assert {(r["name"], r["principal"]) for r in result["undeclared"]} == {
        ("rv-web-3", UNDECLARED),
    }
    diffs = {d["before_header"]: (d["before"], d["after"]) for d in result["diff"]}
    assert sorted(h.split(" ")[1] for h in diffs) == ["(rv-old-1)", "(rv-pub-1)", "(rv-web-2)"]
    web_2 = next(v for h, v in diffs.items() if "rv-web-2" in h)
    assert web_2 == (
        {"launch_permissions": sorted([TARGET, KNOWN])},
        {"launch_permissions": [TARGET]},
    )
    assert not MUTATING & set(revoked.preview_calls)
    assert revoked.preview_permissions == SEEDED


def test_removes_stale_and_deleted_entry_permissions_and_keeps_undeclared_ones(revoked):
    assert revoked.first["failures"] == []
    assert revoked.first["revoked"] == revoked.preview["revoked"]
    assert revoked.first["images_scanned"] == 6
    assert revoked.first_permissions == {
        **SEEDED,
        "rv-web-2": {TARGET},
        "rv-old-1": set(),
        "rv-pub-1": set(),
    }


def test_a_second_run_changes_nothing_and_costs_one_read_per_image(revoked):
    assert revoked.second["changed"] is False
    assert revoked.second["revoked"] == []
    assert len(revoked.second["undeclared"]) == 1
    assert revoked.second_calls == {
        "sts:AssumeRole": 1,
        "ec2:DescribeImages": 1,
        "ec2:DescribeImageAttribute": 6,
    }


def test_refuses_a_bad_declaration_before_any_call(revoked):
    revoked.revoker.aws.reset_calls()

    result = revoked.revoker.revoke(shares=[{"target": "12345", "regex": "("}])

    assert result["failed"] is True
    assert "shares[0].target" in result["msg"] and "shares[0].regex" in result["msg"]
    assert revoked.revoker.aws.calls() == {}


def test_revoke_undeclared_also_removes_public_and_unknown_accounts(revoker):
    result = revoker.revoke(revoke_undeclared=True)

    assert len(result["revoked"]) == 4
    assert revoker.permissions() == {
        "rv-web-1": {TARGET},
        "rv-web-2": {TARGET},
        "rv-old-1": set(),
        "rv-web-3": set(),
        "rv-pub-1": set(),
        "rv-private-1": set(),
    }


def test_an_empty_declaration_takes_every_known_account_off_every_image(revoker):
    revoker.revoke(shares=[])

    assert revoker.permissions() == {
        **{name: set() for name in SEEDED},
        "rv-web-3": {UNDECLARED},
    }
    # Another region is another declaration: eu-west-1 was not touched.
    assert revoker.permissions("eu-west-1") == {"rv-web-eu-1": {TARGET}}


def test_state_absent_removes_only_the_target_from_the_matching_images(revoker):
    preview = revoker.share("--check", "--diff", state="absent", name_regex="^rv-web-")
    assert revoker.permissions() == SEEDED

    result = revoker.share(state="absent", name_regex="^rv-web-")

    assert result["changed"] is True
    names = {i["image_id"]: i["name"] for i in result["images"]}
    assert sorted(names[i] for i in result["unshared"]) == ["rv-web-1", "rv-web-2"]
    assert preview["unshared"] == result["unshared"]
    assert [d["after"] for d in preview["diff"]] == [{"launch_permission": False}] * 2
    assert revoker.permissions() == {**SEEDED, "rv-web-1": set(), "rv-web-2": {KNOWN}}
    assert revoker.share(state="absent", name_regex="^rv-web-")["changed"] is False


def restorable_by(aws: LocalAws, account: str) -> set[str]:
    """The source's snapshots the account may create volumes from, read as the account."""
    answer = aws.ec2(account, "us-east-1").describe_snapshots(RestorableByUserIds=["self"])
    return {s["SnapshotId"] for s in answer["Snapshots"]}


def volume_permissions(aws: LocalAws, snapshot_id: str) -> list[dict]:
    """The snapshot's createVolumePermission entries, read as the source."""
    answer = aws.ec2(SOURCE, "us-east-1").describe_snapshot_attribute(
        SnapshotId=snapshot_id, Attribute="createVolumePermission"
    )
    return answer["CreateVolumePermissions"]


def test_share_snapshots_takes_the_snapshot_permissions_back_with_the_launch_permissions(revoker):
    aws = revoker.aws
    revoker.share(name_regex="^rv-(web|old)-1$", share_snapshots=True)
    granted = restorable_by(aws, TARGET)
    images = {i["Name"]: i for i in aws.ec2(SOURCE, "us-east-1").describe_images()["Images"]}
    old_1 = images["rv-old-1"]
    copy = aws.ec2(TARGET, "us-east-1").copy_image(
        SourceImageId=old_1["ImageId"], SourceRegion="us-east-1", Name="copied-while-shared"
    )

    aws.reset_calls()
    preview = revoker.revoke("--check", "--diff", shares=[], share_snapshots=True)
    preview_calls = aws.calls()
    after_preview = restorable_by(aws, TARGET)
    first = revoker.revoke(shares=[], share_snapshots=True)
    aws.reset_calls()
    rerun = revoker.revoke(shares=[], share_snapshots=True)
    rerun_calls = aws.calls()

    assert len(granted) == 2
    assert copy["ImageId"].startswith("ami-")
    unshared = {(s["account_id"], s["snapshot_id"]) for s in preview["snapshots_unshared"]}
    assert unshared == {(TARGET, snapshot_id) for snapshot_id in granted}
    assert [a for a in preview["plan"] if a["action"] == "unshare_snapshot"] == [
        a for a in first["plan"] if a["action"] == "unshare_snapshot"
    ]
    headers = {d["before_header"] for d in preview["diff"]}
    assert f"{old_1['ImageId']} snapshots of {TARGET}" in headers
    # One listing per account that loses a launch permission: the target and KNOWN.
    assert preview_calls["ec2:DescribeSnapshots"] == 2
    assert not (MUTATING | {"ec2:ModifySnapshotAttribute"}) & set(preview_calls)
    assert after_preview == granted

    assert first["failures"] == []
    assert first["snapshots_unshared"] == preview["snapshots_unshared"]
    assert revoker.permissions()["rv-old-1"] == set()
    assert restorable_by(aws, TARGET) == set()
    for snapshot_id in granted:
        assert volume_permissions(aws, snapshot_id) == []
    with pytest.raises(Exception, match=r"InvalidAMIID\.NotFound"):
        aws.ec2(TARGET, "us-east-1").copy_image(
            SourceImageId=old_1["ImageId"], SourceRegion="us-east-1", Name="not-mine"
        )

    assert rerun["changed"] is False
    assert rerun["snapshots_unshared"] == []
    assert rerun_calls == {
        "sts:AssumeRole": 1,
        "ec2:DescribeImages": 1,
        "ec2:DescribeImageAttribute": 6,
    }
