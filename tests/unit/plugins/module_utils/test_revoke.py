# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""The revocation plan, computed without AWS."""

from __future__ import annotations

import re

from ansible_collections.resource_sharing.aws.plugins.module_utils._access import UNSHARE_SNAPSHOT
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import AccessOutcome
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import AccessPlan
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    permission_for,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import principal_of
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    principal_problem,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage
from ansible_collections.resource_sharing.aws.plugins.module_utils._revoke import (
    merge_snapshot_revocations,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._revoke import plan_revocations
from ansible_collections.resource_sharing.aws.plugins.module_utils._revoke import (
    plan_snapshot_revocations,
)

ORG = "arn:aws:organizations::111111111111:organization/o-abc123defg"
OU = "arn:aws:organizations::111111111111:ou/o-abc123defg/ou-ab12-cdef3456"
# An organization whose management account no account file declares.
PARTNER_ORG = "arn:aws:organizations::777777777777:organization/o-partner0001"


def image(name: str) -> SourceImage:
    return SourceImage(f"ami-{name}", name, "available", "111111111111")


def pairs(removals) -> set[tuple[str, str]]:
    return {(r.image.name, r.principal) for r in removals}


def test_principals_round_trip_through_launch_permission_entries():
    for principal in ("022222222222", "all", ORG, OU):
        assert principal_of(permission_for(principal)) == principal
    assert permission_for(OU) == {"OrganizationalUnitArn": OU}


def test_refuses_principals_that_are_no_account_org_ou_or_all():
    assert principal_problem("22222") is not None
    assert principal_problem("arn:aws:iam::111111111111:root") is not None
    assert principal_problem(ORG) is None
    assert principal_problem(OU) is None
    # Organization IDs have 10 to 32 characters after o-; anything around the ARN is refused.
    assert principal_problem(ORG.replace("o-abc123defg", "o-abc123")) is not None
    assert principal_problem(ORG + "\n") is not None
    assert principal_problem(" " + OU) is not None


def test_keeps_what_an_entry_matches_and_removes_what_no_entry_matches():
    images = [image("web-1"), image("old-1")]
    permissions = {"ami-web-1": ["022222222222"], "ami-old-1": ["022222222222"]}

    plan = plan_revocations(
        images, permissions, {"022222222222": [re.compile("^web-")]}, set(), False
    )

    assert pairs(plan.removals) == {("old-1", "022222222222")}
    assert plan.undeclared == ()


def test_any_of_several_entries_for_a_target_keeps_the_permission():
    declared = {"022222222222": [re.compile("^web-"), re.compile("^old-")]}

    plan = plan_revocations(
        [image("old-1")], {"ami-old-1": ["022222222222"]}, declared, set(), False
    )

    assert plan.removals == ()


def test_a_known_account_without_an_entry_loses_every_permission():
    plan = plan_revocations(
        [image("web-1")], {"ami-web-1": ["044444444444"]}, {}, {"044444444444"}, False
    )

    assert pairs(plan.removals) == {("web-1", "044444444444")}


def test_undeclared_principals_are_reported_and_removed_only_when_asked():
    permissions = {"ami-web-1": ["055555555555", PARTNER_ORG]}

    kept = plan_revocations([image("web-1")], permissions, {}, set(), False)
    removed = plan_revocations([image("web-1")], permissions, {}, set(), True)

    assert kept.removals == ()
    assert pairs(kept.undeclared) == {("web-1", "055555555555"), ("web-1", PARTNER_ORG)}
    assert pairs(removed.removals) == pairs(kept.undeclared)


def test_public_access_without_an_entry_allowing_it_is_removed():
    plan = plan_revocations([image("web-1")], {"ami-web-1": ["all"]}, {}, set(), False)

    assert pairs(plan.removals) == {("web-1", "all")}
    assert plan.removals[0].reason == (
        "no sharing entry of this source allows public sharing in this region"
    )
    assert plan.undeclared == ()


def test_declared_organization_and_ou_entries_are_kept_where_their_regex_matches():
    images = [image("web-1"), image("old-1")]
    permissions = {"ami-web-1": [ORG, OU, "all"], "ami-old-1": [ORG, "all"]}
    declared = {p: [re.compile("^web-")] for p in (ORG, OU, "all")}

    plan = plan_revocations(images, permissions, declared, {"111111111111"}, False)

    assert pairs(plan.removals) == {("old-1", ORG), ("old-1", "all")}


def test_an_organization_of_a_known_management_account_loses_a_deleted_entry():
    permissions = {"ami-web-1": [ORG, OU, PARTNER_ORG]}

    plan = plan_revocations([image("web-1")], permissions, {}, {"111111111111"}, False)

    assert pairs(plan.removals) == {("web-1", ORG), ("web-1", OU)}
    assert pairs(plan.undeclared) == {("web-1", PARTNER_ORG)}


def test_removals_are_grouped_into_one_call_per_image():
    permissions = {"ami-web-1": ["044444444444", "055555555555"]}

    plan = plan_revocations([image("web-1")], permissions, {}, {"044444444444"}, True)

    assert [len(removals) for removals in plan.by_image().values()] == [2]


class SnapshotListings:
    """A source whose DescribeSnapshots answers per account, counting the listings."""

    def __init__(self, restorable: dict[str, list[str]]) -> None:
        self.restorable = restorable
        self.listed: list[str] = []

    def paginate(self, service: str, operation: str, key: str, **request):
        (account,) = request["RestorableByUserIds"]
        self.listed.append(account)
        return [{"SnapshotId": s} for s in self.restorable.get(account, [])]


def with_snapshots(name: str, *snapshot_ids: str) -> SourceImage:
    return SourceImage(f"ami-{name}", name, "available", "111111111111", snapshot_ids=snapshot_ids)


def test_snapshot_revocations_read_once_per_losing_account_and_spare_kept_images():
    web_1 = with_snapshots("web-1", "snap-1")
    old_1 = with_snapshots("old-1", "snap-2", "snap-shared")
    web_2 = with_snapshots("web-2", "snap-shared")
    permissions = {
        "ami-web-1": ["222222222222", ORG],
        "ami-old-1": ["222222222222", "333333333333", ORG],
        "ami-web-2": ["222222222222"],
    }
    plan = plan_revocations(
        [web_1, old_1, web_2],
        permissions,
        {"222222222222": [re.compile("^web-")], ORG: [re.compile("^web-")]},
        {"222222222222", "333333333333", "111111111111"},
        revoke_undeclared=False,
    )
    source = SnapshotListings(
        {"222222222222": ["snap-1", "snap-2", "snap-shared"], "333333333333": []}
    )

    access = plan_snapshot_revocations(source, plan, [web_1, old_1, web_2])

    assert sorted(source.listed) == ["222222222222", "333333333333"]
    # snap-shared also backs web-2, which 222222222222 keeps; snap-1 belongs to a kept image.
    assert [(a.target_account_id, dict(a.snapshots)) for a in access] == [
        ("222222222222", {"ami-old-1": ("snap-2",)})
    ]


def test_a_failed_snapshot_is_a_failure_and_the_others_are_reported_done():
    access = AccessPlan(
        "222222222222", {"ami-1": ("snap-1", "snap-2")}, snapshot_action=UNSHARE_SNAPSHOT
    )
    outcome = AccessOutcome(
        snapshots={"ami-1": ["snap-2"]},
        errors={"snap-1": AwsError("ModifySnapshotAttribute", "AuthFailure", "denied")},
    )
    result = {"changed": False, "failures": [], "plan": [], "snapshots_unshared": [], "diff": []}

    merge_snapshot_revocations(result, access, outcome, check_mode=False, diff=True)

    assert result["changed"] is True
    assert result["snapshots_unshared"] == [
        {"account_id": "222222222222", "image_id": "ami-1", "snapshot_id": "snap-2"}
    ]
    assert [(f["image_id"], f["code"]) for f in result["failures"]] == [("snap-1", "AuthFailure")]
    assert len(result["plan"]) == 2
    assert [d["before_header"] for d in result["diff"]] == ["ami-1 snapshots of 222222222222"]
