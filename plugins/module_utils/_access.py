# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""What a target needs beyond the launch permission: snapshot permissions and KMS grants.

Launching a shared image needs no snapshot permission, but copying it needs
`createVolumePermission` on each of its snapshots (share_snapshots). An image encrypted
with a customer managed key can be launched or copied only by an account that may use the
key (share_kms_keys gives it a KMS grant). The plans here are pure data; the reads are one
listing per share and one per key, and the writes run in a pool of `workers`.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import NamedTuple

from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Account
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import account_from_arn
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import map_bounded
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage

SHARE_SNAPSHOT = "share_snapshot"
UNSHARE_SNAPSHOT = "unshare_snapshot"
GRANT_KEY = "grant_key"
GRANT_NAME_PREFIX = "resource-sharing-aws-"
# The KMS operations another account needs to launch or copy an image encrypted with the
# key (DESIGN.md, fact 6); a grant names ReEncrypt* as its two halves.
GRANT_OPERATIONS = (
    "CreateGrant",
    "Decrypt",
    "DescribeKey",
    "GenerateDataKeyWithoutPlaintext",
    "ReEncryptFrom",
    "ReEncryptTo",
)
SNAPSHOT_PAGE_SIZE = 1000
GRANT_PAGE_SIZE = 100

GRANTED = "granted"
TO_GRANT = "grant"
NOT_REQUESTED = "not granted: share_kms_keys is off"
FOREIGN = "owned by account {owner}, not the source: only that account can give the target access"


def grant_name(target_account_id: str) -> str:
    """The name of the product's grant for one target: the same on every run, per KMS key."""
    return GRANT_NAME_PREFIX + target_account_id


def grantee_principal(key_arn: str, target_account_id: str) -> str:
    """The target account as a grantee, in the partition of the key."""
    partition = key_arn.split(":")[1] if key_arn.count(":") >= 5 else "aws"
    return f"arn:{partition}:iam::{target_account_id}:root"


class KeyAccess(NamedTuple):
    """One customer managed key of shared images, and what the target's access to it is."""

    key_arn: str
    image_ids: tuple[str, ...]
    status: str

    def as_dict(self) -> dict[str, Any]:
        """The key as returned data."""
        return {"key_arn": self.key_arn, "image_ids": list(self.image_ids), "status": self.status}


@dataclass(frozen=True)
class AccessPlan:
    """The snapshot permissions to add (or remove) and the keys of one share."""

    target_account_id: str
    snapshots: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    keys: tuple[KeyAccess, ...] = ()
    snapshot_action: str = SHARE_SNAPSHOT

    @property
    def grants(self) -> list[KeyAccess]:
        """The keys that get the product's grant."""
        return [k for k in self.keys if k.status == TO_GRANT]

    @property
    def unusable(self) -> list[KeyAccess]:
        """The keys the target is not given, which it may be unable to use."""
        return [k for k in self.keys if k.status not in (TO_GRANT, GRANTED)]

    def grant_request(self, key: KeyAccess) -> dict[str, Any]:
        """The CreateGrant parameters for one key."""
        return {
            "KeyId": key.key_arn,
            "GranteePrincipal": grantee_principal(key.key_arn, self.target_account_id),
            "Operations": list(GRANT_OPERATIONS),
            "Name": grant_name(self.target_account_id),
        }

    def actions(self) -> list[dict[str, Any]]:
        """The plan as a flat list of actions: snapshots, then grants."""
        snapshots = [
            {
                "action": self.snapshot_action,
                "image_id": image_id,
                "snapshot_id": snapshot_id,
                "account_id": self.target_account_id,
            }
            for image_id, snapshot_ids in sorted(self.snapshots.items())
            for snapshot_id in snapshot_ids
        ]
        grants = [
            {"action": GRANT_KEY, "key_arn": k.key_arn, **self.grant_request(k)}
            for k in self.grants
        ]
        for grant in grants:
            del grant["KeyId"]
        return snapshots + grants


def plan_snapshots(
    images: Iterable[SourceImage], permitted: set[str], remove: bool = False
) -> dict[str, tuple[str, ...]]:
    """Per image, the snapshots whose permission for the target must be added (or removed)."""
    wanted = {}
    for image in images:
        snapshot_ids = tuple(s for s in image.snapshot_ids if (s in permitted) == remove)
        if snapshot_ids:
            wanted[image.image_id] = snapshot_ids
    return wanted


def keys_of_images(
    images: Iterable[SourceImage], snapshot_keys: Mapping[str, str | None]
) -> dict[str, tuple[str, ...]]:
    """The key ARNs of the images' encrypted snapshots, each with the images that use it."""
    users: dict[str, list[str]] = {}
    for image in images:
        for key_arn in sorted({snapshot_keys.get(s) or "" for s in image.encrypted_snapshot_ids}):
            if key_arn:
                users.setdefault(key_arn, []).append(image.image_id)
    return {key_arn: tuple(users[key_arn]) for key_arn in sorted(users)}


def plan_keys(
    key_users: Mapping[str, tuple[str, ...]],
    source_account_id: str,
    granted: set[str],
    share_kms_keys: bool,
) -> tuple[KeyAccess, ...]:
    """What to do about each key: grant it, nothing (granted), or report it."""
    keys = []
    for key_arn, image_ids in key_users.items():
        owner = account_from_arn(key_arn)
        if owner and owner != source_account_id:
            status = FOREIGN.format(owner=owner)
        elif not share_kms_keys:
            status = NOT_REQUESTED
        else:
            status = GRANTED if key_arn in granted else TO_GRANT
        keys.append(KeyAccess(key_arn, image_ids, status))
    return tuple(keys)


def read_permitted_snapshot_ids(source: Account, target_account_id: str) -> set[str]:
    """IDs of the source's snapshots the target may create volumes from: one paged listing."""
    return {
        snapshot["SnapshotId"]
        for snapshot in source.paginate(
            "ec2",
            "describe_snapshots",
            "Snapshots",
            OwnerIds=["self"],
            RestorableByUserIds=[target_account_id],
            PaginationConfig={"PageSize": SNAPSHOT_PAGE_SIZE},
        )
    }


def has_grant(grants: Iterable[Mapping[str, Any]], principal: str) -> bool:
    """Whether a grant already gives the principal every operation the target needs."""
    return any(
        g.get("GranteePrincipal") == principal
        and set(g.get("Operations", [])) >= set(GRANT_OPERATIONS)
        for g in grants
    )


def read_granted_keys(source: Account, key_arns: Iterable[str], target_account_id: str) -> set[str]:
    """The keys on which the target already has a grant with the operations it needs.

    One paged ListGrants per key; a grant under any name counts, so a grant made by hand
    is not duplicated.
    """
    granted = set()
    for key_arn in key_arns:
        grants = source.paginate(
            "kms",
            "list_grants",
            "Grants",
            KeyId=key_arn,
            PaginationConfig={"PageSize": GRANT_PAGE_SIZE},
        )
        if has_grant(grants, grantee_principal(key_arn, target_account_id)):
            granted.add(key_arn)
    return granted


def change_snapshot(
    source: Account, verb: str, snapshot_id: str, target_account_id: str
) -> AwsError | None:
    """Add or remove the target's createVolumePermission on one snapshot."""
    return source.change(
        "ec2",
        "modify_snapshot_attribute",
        SnapshotId=snapshot_id,
        Attribute="createVolumePermission",
        CreateVolumePermission={verb: [{"UserId": target_account_id}]},
    )


def create_grant(source: Account, request: Mapping[str, Any]) -> AwsError | None:
    """Create the product's grant on one key; KMS returns the same grant for the same name."""
    return source.change("kms", "create_grant", **request)


@dataclass
class AccessOutcome:
    """What applying an access plan did: snapshots changed per image, keys granted, errors."""

    snapshots: dict[str, list[str]] = field(default_factory=dict)
    granted: list[str] = field(default_factory=list)
    errors: dict[str, AwsError] = field(default_factory=dict)


def apply_access(
    plan: AccessPlan, source: Account, workers: int, left_out: Iterable[str] = ()
) -> AccessOutcome:
    """Change the snapshot permissions and create the grants, `workers` calls at a time.

    Images in `left_out` (their share failed, or they are gone) are not touched.
    """
    skipped = set(left_out)
    verb = "Remove" if plan.snapshot_action == UNSHARE_SNAPSHOT else "Add"
    pairs = [
        (image_id, snapshot_id)
        for image_id, snapshot_ids in sorted(plan.snapshots.items())
        if image_id not in skipped
        for snapshot_id in snapshot_ids
    ]
    keys = [k for k in plan.grants if set(k.image_ids) - skipped]
    outcome = AccessOutcome()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        errors = map_bounded(
            pool,
            workers,
            lambda pair: change_snapshot(source, verb, pair[1], plan.target_account_id),
            pairs,
        )
        for (image_id, snapshot_id), error in zip(pairs, errors):
            if error is None:
                outcome.snapshots.setdefault(image_id, []).append(snapshot_id)
            else:
                outcome.errors[snapshot_id] = error
        errors = pool.map(lambda key: create_grant(source, plan.grant_request(key)), keys)
        for key, error in zip(keys, errors):
            if error is None:
                outcome.granted.append(key.key_arn)
            else:
                outcome.errors[key.key_arn] = error
    return outcome


def access_report(
    plan: AccessPlan, outcome: AccessOutcome, check_mode: bool, diff: bool
) -> dict[str, Any]:
    """The share's result about snapshots and keys: done (or would be), failures, diffs."""
    snapshots = (
        {i: list(s) for i, s in sorted(plan.snapshots.items())} if check_mode else outcome.snapshots
    )
    granted = [k.key_arn for k in plan.grants] if check_mode else outcome.granted
    key_word = (
        "snapshots_unshared" if plan.snapshot_action == UNSHARE_SNAPSHOT else "snapshots_shared"
    )
    result: dict[str, Any] = {
        "changed": bool(snapshots or granted),
        key_word: snapshots,
        "kms_grants": [
            {**plan.grant_request(k), "image_ids": list(k.image_ids)}
            for k in plan.grants
            if k.key_arn in granted
        ],
        "kms_keys": [k.as_dict() for k in plan.keys],
        "failures": [
            {"image_id": subject, "name": "", **error.as_dict()}
            for subject, error in sorted(outcome.errors.items())
        ],
        "plan": plan.actions(),
    }
    for grant in result["kms_grants"]:
        grant["key_arn"] = grant.pop("KeyId")
    if diff:
        result["diff"] = access_diff(plan, snapshots, granted)
    return result


def access_diff(
    plan: AccessPlan, snapshots: Mapping[str, list[str]], granted: list[str]
) -> list[dict[str, Any]]:
    """One diff per image whose snapshots changed and one per key granted."""
    adding = plan.snapshot_action == SHARE_SNAPSHOT
    diffs = []
    for image_id, snapshot_ids in sorted(snapshots.items()):
        header = f"{image_id} snapshots"
        diffs.append(
            {
                "before_header": header,
                "after_header": header,
                "before": {"create_volume_permission": dict.fromkeys(snapshot_ids, not adding)},
                "after": {"create_volume_permission": dict.fromkeys(snapshot_ids, adding)},
            }
        )
    for key_arn in granted:
        header = f"KMS key {key_arn}"
        name = grant_name(plan.target_account_id)
        diffs.append(
            {
                "before_header": header,
                "after_header": header,
                "before": {"grants": []},
                "after": {"grants": [{"name": name, "operations": list(GRANT_OPERATIONS)}]},
            }
        )
    return diffs


def key_warnings(result: Mapping[str, Any], target_account_id: str) -> list[str]:
    """One warning per key the target is not given: it may be unable to use those images."""
    return [
        f"KMS key {key['key_arn']} ({', '.join(key['image_ids'])}): {key['status']}; "
        f"{target_account_id} cannot launch or copy these images unless the key policy "
        "allows it"
        for key in result.get("kms_keys", [])
        if key["status"] not in (TO_GRANT, GRANTED)
    ]
