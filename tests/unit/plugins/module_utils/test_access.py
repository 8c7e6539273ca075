"""The pure parts of snapshot permissions and KMS grants: plans, actions, grant checks."""

from __future__ import annotations

from ansible_collections.resource_sharing.aws.plugins.module_utils._access import GRANT_OPERATIONS
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import AccessPlan
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import KeyAccess
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import grantee_principal
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import has_grant
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import keys_of_images
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import plan_keys
from ansible_collections.resource_sharing.aws.plugins.module_utils._access import plan_snapshots
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage

SOURCE, TARGET = "111111111111", "022222222222"
OWN_KEY = f"arn:aws:kms:us-east-1:{SOURCE}:key/own"
OTHER_KEY = "arn:aws:kms:us-east-1:999999999999:key/theirs"


def image(image_id: str, *snapshots: str, encrypted: tuple[str, ...] = ()) -> SourceImage:
    return SourceImage(
        image_id,
        f"name-{image_id}",
        "available",
        SOURCE,
        encrypted=bool(encrypted),
        encrypted_snapshot_ids=encrypted,
        snapshot_ids=snapshots,
    )


def test_only_snapshots_without_the_permission_are_planned():
    images = [image("ami-1", "snap-1", "snap-2"), image("ami-2", "snap-3")]

    assert plan_snapshots(images, {"snap-2", "snap-3"}) == {"ami-1": ("snap-1",)}


def test_removal_plans_only_snapshots_that_have_the_permission():
    images = [image("ami-1", "snap-1", "snap-2"), image("ami-2", "snap-3")]

    assert plan_snapshots(images, {"snap-2"}, remove=True) == {"ami-1": ("snap-2",)}


def test_keys_are_grouped_with_the_images_that_use_them():
    images = [
        image("ami-1", "snap-1", encrypted=("snap-1",)),
        image("ami-2", "snap-2", encrypted=("snap-2",)),
    ]

    users = keys_of_images(images, {"snap-1": OWN_KEY, "snap-2": OWN_KEY})

    assert users == {OWN_KEY: ("ami-1", "ami-2")}


def test_a_key_of_another_account_is_reported_never_granted():
    (key,) = plan_keys({OTHER_KEY: ("ami-1",)}, SOURCE, set(), share_kms_keys=True)

    assert key.status.startswith("owned by account 999999999999, not the source")


def test_keys_are_granted_only_when_asked_and_missing():
    users = {OWN_KEY: ("ami-1",)}

    assert plan_keys(users, SOURCE, set(), True)[0].status == "grant"
    assert plan_keys(users, SOURCE, {OWN_KEY}, True)[0].status == "granted"
    assert plan_keys(users, SOURCE, set(), False)[0].status.startswith("not granted")


def test_a_grant_counts_only_for_the_target_with_every_operation():
    principal = grantee_principal(OWN_KEY, TARGET)
    full = {"GranteePrincipal": principal, "Operations": list(GRANT_OPERATIONS)}

    assert principal == f"arn:aws:iam::{TARGET}:root"
    assert has_grant([full], principal)
    assert not has_grant([{**full, "Operations": ["Decrypt"]}], principal)
    assert not has_grant(
        [{**full, "GranteePrincipal": "arn:aws:iam::333333333333:root"}], principal
    )


def test_the_grantee_is_in_the_partition_of_the_key():
    china_key = "arn:aws-cn:kms:cn-north-1:111111111111:key/k"

    assert grantee_principal(china_key, TARGET) == f"arn:aws-cn:iam::{TARGET}:root"


def test_actions_list_snapshots_then_named_grants():
    plan = AccessPlan(
        TARGET,
        {"ami-1": ("snap-1",)},
        (KeyAccess(OWN_KEY, ("ami-1",), "grant"), KeyAccess(OTHER_KEY, ("ami-2",), "x")),
    )

    assert plan.actions() == [
        {
            "action": "share_snapshot",
            "image_id": "ami-1",
            "snapshot_id": "snap-1",
            "account_id": TARGET,
        },
        {
            "action": "grant_key",
            "key_arn": OWN_KEY,
            "GranteePrincipal": f"arn:aws:iam::{TARGET}:root",
            "Operations": list(GRANT_OPERATIONS),
            "Name": f"resource-sharing-aws-{TARGET}",
        },
    ]
    assert [k.key_arn for k in plan.unusable] == [OTHER_KEY]
