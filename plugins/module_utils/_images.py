# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Reading images from AWS, and applying a plan with each image's failure kept to itself."""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from functools import partial
from typing import Any

from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Account
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import map_bounded
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    permission_for,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SHARE
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import TAG
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import UNTAG
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import Plan
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import name_matches
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import tag_batches
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import tags_from_list
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import tags_to_list

# DescribeImages answers at most 1000 images a page; smaller pages keep memory flat.
PAGE_SIZE = 1000
SNAPSHOTS_PER_CALL = 200
AWS_MANAGED_EBS_KEY = "alias/aws/ebs"
# What ModifyImageAttribute answers for an image deregistered after it was listed. Such an
# image is skipped, as at listing time: there is nothing left to share (DESIGN.md, fact 2).
IMAGE_GONE_CODES = frozenset({"InvalidAMIID.Unavailable", "InvalidAMIID.NotFound"})


def list_images(account: Account, **selection: Any) -> Iterator[dict[str, Any]]:
    """The images DescribeImages selects for `account`, in pages of PAGE_SIZE, one at a time."""
    return account.paginate(
        "ec2", "describe_images", "Images", PaginationConfig={"PageSize": PAGE_SIZE}, **selection
    )


def read_source_images(
    source: Account, patterns: re.Pattern[str] | Sequence[re.Pattern[str]]
) -> list[SourceImage]:
    """The source's own images in the region whose name matches any of `patterns`, in any state.

    One listing serves every pattern, and an image matched by several is kept once.
    """
    if isinstance(patterns, re.Pattern):
        patterns = [patterns]
    return [
        SourceImage.from_describe(image)
        for image in list_images(source, Owners=["self"])
        if any(name_matches(pattern, image.get("Name", "")) for pattern in patterns)
    ]


def read_owned_image_ids(source: Account, **scope: object) -> set[str]:
    """IDs of the source's own images that DescribeImages selects with `scope`: one listing."""
    return {image["ImageId"] for image in list_images(source, Owners=["self"], **scope)}


def read_shared_image_ids(source: Account, target_account_id: str) -> set[str]:
    """IDs of the source's images that carry an explicit launch permission for the target."""
    return read_owned_image_ids(source, ExecutableUsers=[target_account_id])


def read_public_image_ids(source: Account) -> set[str]:
    """IDs of the source's images that are public."""
    return read_owned_image_ids(source, Filters=[{"Name": "is-public", "Values": ["true"]}])


def read_target_tags(target: Account, source_account_id: str) -> dict[str, dict[str, str]]:
    """The target's own tags on every image of the source that the target can see."""
    return {
        image["ImageId"]: tags_from_list(image.get("Tags", []))
        for image in list_images(target, Owners=[source_account_id])
    }


def read_snapshot_keys(source: Account, images: list[SourceImage]) -> dict[str, str | None]:
    """The KMS key ARN of every encrypted snapshot of `images`, by snapshot ID.

    One DescribeSnapshots per SNAPSHOTS_PER_CALL snapshots, whatever the number of images.
    """
    snapshot_ids = sorted({s for image in images for s in image.encrypted_snapshot_ids})
    keys = {}
    for start in range(0, len(snapshot_ids), SNAPSHOTS_PER_CALL):
        answer = source.call(
            "ec2",
            "describe_snapshots",
            SnapshotIds=snapshot_ids[start : start + SNAPSHOTS_PER_CALL],
        )
        keys.update({s["SnapshotId"]: s.get("KmsKeyId") for s in answer["Snapshots"]})
    return keys


def read_managed_key_images(
    source: Account,
    images: list[SourceImage],
    snapshot_keys: Mapping[str, str | None] | None = None,
) -> set[str]:
    """IDs of `images` with a snapshot encrypted by the source's AWS managed EBS key.

    Two calls whatever the number of images, and only when encrypted images are about to
    be shared: DescribeKey names the account's aws/ebs key, DescribeSnapshots the keys used
    (unless `snapshot_keys` already holds them).
    """
    try:
        managed = source.call("kms", "describe_key", KeyId=AWS_MANAGED_EBS_KEY)
    except AwsError as error:
        if error.code == "NotFoundException":
            return set()  # The account never used aws/ebs, so nothing is encrypted with it.
        raise
    managed_arn = managed["KeyMetadata"]["Arn"]

    keys = read_snapshot_keys(source, images) if snapshot_keys is None else snapshot_keys
    return {
        image.image_id
        for image in images
        if any(keys.get(s) == managed_arn for s in image.encrypted_snapshot_ids)
    }


@dataclass
class Outcome:
    """What applying a plan did: the actions done per image and the error that stopped an image."""

    done: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, AwsError] = field(default_factory=dict)
    gone: dict[str, AwsError] = field(default_factory=dict)

    def record(self, image_id: str, action: str, error: AwsError | None) -> None:
        """Note that `action` on `image_id` succeeded, or the error it failed with."""
        if error is None:
            self.done.setdefault(image_id, []).append(action)
        elif action == SHARE and error.code in IMAGE_GONE_CODES:
            self.gone[image_id] = error
        else:
            self.errors[image_id] = error


def share_image(source: Account, principal: str, image_id: str) -> AwsError | None:
    """Add the principal's launch permission to one image; the error, if any, is returned."""
    return source.change(
        "ec2",
        "modify_image_attribute",
        ImageId=image_id,
        LaunchPermission={"Add": [permission_for(principal)]},
    )


def change_tags(
    target: Account, method: str, tags: list[dict[str, str]], image_ids: list[str]
) -> list[tuple[str, AwsError | None]]:
    """CreateTags or DeleteTags on `image_ids` in the target, one call, per image if it fails.

    Both calls fail whole when one ID is bad (an image deregistered meanwhile), so a
    failed batch is retried per image to pin the failure on the image that caused it.
    """
    try:
        target.call("ec2", method, Resources=image_ids, Tags=tags)
    except AwsError as error:
        if len(image_ids) == 1:
            return [(image_ids[0], error)]
        return [
            pair for image_id in image_ids for pair in change_tags(target, method, tags, [image_id])
        ]
    return [(image_id, None) for image_id in image_ids]


def tag_images(
    target: Account, tags: Mapping[str, str], image_ids: list[str]
) -> list[tuple[str, AwsError | None]]:
    """Write `tags` on `image_ids` in the target."""
    return change_tags(target, "create_tags", tags_to_list(tags), image_ids)


def untag_images(
    target: Account, keys: Mapping[str, str], image_ids: list[str]
) -> list[tuple[str, AwsError | None]]:
    """Delete the tags with these keys, whatever their values, from `image_ids` in the target."""
    return change_tags(target, "delete_tags", [{"Key": key} for key in sorted(keys)], image_ids)


def apply_tag_changes(
    pool: ThreadPoolExecutor,
    workers: int,
    outcome: Outcome,
    action: str,
    change: Callable[[Mapping[str, str], list[str]], list[tuple[str, AwsError | None]]],
    changes: Mapping[str, Mapping[str, str]],
) -> None:
    """Run `change` over batches of images that get the same tags, recording `action`."""
    for results in map_bounded(pool, workers, lambda batch: change(*batch), tag_batches(changes)):
        for image_id, error in results:
            outcome.record(image_id, action, error)


def apply_plan(plan: Plan, source: Account, target: Account | None, workers: int) -> Outcome:
    """Share, then tag, in a pool of `workers` threads; an image is tagged only once shared."""
    outcome = Outcome()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        to_share = [p.image.image_id for p in plan.images if p.share]
        errors = map_bounded(
            pool, workers, lambda image_id: share_image(source, plan.principal, image_id), to_share
        )
        for image_id, error in zip(to_share, errors):
            outcome.record(image_id, SHARE, error)

        if target is None:
            return outcome
        # Deletions first: they make room for new keys within the 50-tag limit.
        deletes = {
            p.image.image_id: dict.fromkeys(p.tags_to_delete, "")
            for p in plan.images
            if UNTAG in p.actions and p.image.image_id not in outcome.errors
        }
        apply_tag_changes(pool, workers, outcome, UNTAG, partial(untag_images, target), deletes)

        # Limitation: a freshly shared image can be invisible to the target for a moment
        # (eventual consistency) and its CreateTags then fails with InvalidAMIID.NotFound,
        # which botocore does not retry; the failure is reported for that image alone and
        # the next run writes the tags.
        writes = {
            p.image.image_id: p.tags_to_write
            for p in plan.images
            if TAG in p.actions
            and p.image.image_id not in outcome.errors
            and p.image.image_id not in outcome.gone
        }
        apply_tag_changes(pool, workers, outcome, TAG, partial(tag_images, target), writes)
    return outcome
