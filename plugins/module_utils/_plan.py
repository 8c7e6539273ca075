# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""The AMI sharing plan: what to share and which tags to write, computed without AWS."""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import threading
from collections.abc import Callable
from collections.abc import Container
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from typing import NamedTuple

from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import ACCOUNT
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import EVERYONE
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import ORGANIZATION
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    ORGANIZATIONAL_UNIT,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._permissions import (
    principal_kind,
)

RESERVED_TAG_PREFIX = "aws:"
MAX_TAGS_PER_RESOURCE = 50
MAX_TAG_KEY_LENGTH = 128
MAX_TAG_VALUE_LENGTH = 256
MAX_RESOURCES_PER_CREATE_TAGS = 1000

# Above this many matched images, a share's result lists only the images that need a person
# and its diff is one summary: each returned entry costs the module process several times its
# JSON size when Ansible sanitises and encodes the result (docs/benchmarks.md, Memory).
DETAIL_LIMIT = 1000

SHAREABLE_STATE = "available"
MANAGED_KEY_REASON = (
    "encrypted with the AWS managed key aws/ebs, which AWS does not let anyone share; to "
    "share it, copy the image with a customer managed key (CopyImage with Encrypted=true "
    "and KmsKeyId) and share the copy, with share_kms_keys=true for its key"
)

NO_TAGS: Mapping[str, str] = {}

SHARE = "share"
UNTAG = "untag"
TAG = "tag"

# The field that names the principal in a `share` action of the plan, per kind.
SHARE_TARGET_FIELDS = {
    ACCOUNT: "account_id",
    ORGANIZATION: "organization_arn",
    ORGANIZATIONAL_UNIT: "organizational_unit_arn",
    EVERYONE: "group",
}


class SourceImage(NamedTuple):
    """An image owned by the source, as DescribeImages shows it to the source.

    Named tuples rather than dataclasses for the per-image records: thousands of them
    fit in a module process, and Python 3.9 has no slotted dataclasses.
    """

    image_id: str
    name: str
    state: str
    owner_id: str
    tags: Mapping[str, str] = {}
    encrypted: bool = False
    encrypted_snapshot_ids: tuple[str, ...] = ()
    snapshot_ids: tuple[str, ...] = ()

    @classmethod
    def from_describe(cls, image: Mapping[str, Any]) -> SourceImage:
        """Keep only what the plan needs from one DescribeImages entry."""
        volumes = [m["Ebs"] for m in image.get("BlockDeviceMappings", []) if "Ebs" in m]
        encrypted = [v for v in volumes if v.get("Encrypted", False)]
        return cls(
            image_id=image["ImageId"],
            name=image.get("Name", ""),
            # Interned: the same few states, owner and tag keys recur on thousands of images.
            state=sys.intern(image.get("State", "")),
            owner_id=sys.intern(image.get("OwnerId", "")),
            tags=tags_from_list(image.get("Tags", [])),
            encrypted=bool(encrypted),
            encrypted_snapshot_ids=tuple(v["SnapshotId"] for v in encrypted if "SnapshotId" in v),
            snapshot_ids=tuple(v["SnapshotId"] for v in volumes if "SnapshotId" in v),
        )


@dataclass(frozen=True)
class TagOmission:
    """A source tag that is not written in the target, and why."""

    key: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        """The omission as returned data."""
        return {"key": self.key, "reason": self.reason}


class ImagePlan(NamedTuple):
    """What to do for one matched image in the target account."""

    image: SourceImage
    shared_before: bool
    target_tags: Mapping[str, str]
    tags_to_write: Mapping[str, str]
    omitted_tags: tuple[TagOmission, ...] = ()
    skip_reason: str | None = None
    tags_to_delete: tuple[str, ...] = ()

    @property
    def share(self) -> bool:
        """Whether the launch permission for the target must be added."""
        return self.skip_reason is None and not self.shared_before

    @property
    def actions(self) -> list[str]:
        """The planned actions, in the order they are applied."""
        if self.skip_reason is not None:
            return []
        return (
            ([SHARE] if self.share else [])
            + ([UNTAG] if self.tags_to_delete else [])
            + ([TAG] if self.tags_to_write else [])
        )


@dataclass(frozen=True)
class Plan:
    """The plan of one share: every matched image and what to do with it.

    `principal` is who the images are shared with: an account ID, an organization or OU
    ARN, or `all` (see _permissions.py).
    """

    principal: str
    copy_tags: bool
    images: tuple[ImagePlan, ...]

    @property
    def skipped(self) -> list[ImagePlan]:
        """Matched images that are left alone, with the reason."""
        return [p for p in self.images if p.skip_reason is not None]

    @property
    def changes(self) -> list[ImagePlan]:
        """Images with at least one planned action."""
        return [p for p in self.images if p.actions]

    def actions(self) -> list[dict[str, Any]]:
        """The plan as a flat list of actions, shares first."""
        target = {SHARE_TARGET_FIELDS[principal_kind(self.principal)]: self.principal}
        shares = [
            {"action": SHARE, "image_id": p.image.image_id, **target}
            for p in self.images
            if p.share
        ]
        untags = [
            {"action": UNTAG, "image_id": p.image.image_id, "keys": list(p.tags_to_delete)}
            for p in self.images
            if UNTAG in p.actions
        ]
        tags = [
            {"action": TAG, "image_id": p.image.image_id, "tags": p.tags_to_write}
            for p in self.images
            if TAG in p.actions
        ]
        return shares + untags + tags


def tags_from_list(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """AWS's `[{Key, Value}]` form as a dict."""
    return {sys.intern(tag["Key"]): tag.get("Value", "") for tag in tags}


def tags_to_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    """A dict of tags in AWS's `[{Key, Value}]` form, sorted by key."""
    return [{"Key": key, "Value": tags[key]} for key in sorted(tags)]


# A regex with nested repetition can take hours on one name (catastrophic backtracking);
# one account file must not freeze the run, so each match gets this long.
REGEX_SECONDS_PER_NAME = 1.0


class RegexTooSlow(Exception):
    """A name regex did not finish on one image name within REGEX_SECONDS_PER_NAME."""

    def __init__(self, pattern: re.Pattern[str], name: str) -> None:
        super().__init__(
            f"name regex {pattern.pattern!r} took more than {REGEX_SECONDS_PER_NAME:g} s on the "
            f"image name {name[:80]!r}: simplify it (nested repetition such as (a|aa)+ "
            "backtracks without end)"
        )


@contextlib.contextmanager
def _time_limit(seconds: float, pattern: re.Pattern[str], name: str) -> Any:
    """Interrupt the block after `seconds` with RegexTooSlow; only the main thread has signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise RegexTooSlow(pattern, name)

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def name_matches(pattern: re.Pattern[str], name: str) -> bool:
    """Whether an image name is selected by the share's regex (re.search, as declared)."""
    with _time_limit(REGEX_SECONDS_PER_NAME, pattern, name):
        return pattern.search(name) is not None


def skip_reason(image: SourceImage, managed_key_image_ids: Container[str] = ()) -> str | None:
    """Why a matched image cannot be shared, or None when it can."""
    if image.state != SHAREABLE_STATE:
        return f"state is {image.state or 'unknown'}, only {SHAREABLE_STATE} images can be shared"
    if image.image_id in managed_key_image_ids:
        return MANAGED_KEY_REASON
    return None


def plan_tags(
    source_tags: Mapping[str, str],
    target_tags: Mapping[str, str],
    reserved: int = 0,
    first: Container[str] = (),
) -> tuple[dict[str, str], tuple[TagOmission, ...]]:
    """Source tags to write in the target, and those that cannot be written within AWS limits.

    Reserved `aws:` keys cannot be written by anyone and are left out without a report.
    Keys the target set itself are kept and count towards the limit of tags per resource,
    as do `reserved` more tags the caller will write (the record of managed keys). When
    there is no room for every new key, the keys in `first` (the extra tags) get it first.
    """
    # Deleting what the source dropped needs a record of what was copied (the target's own
    # tags must be kept): that is _tags.py's, with prune_tags.
    omitted: list[TagOmission] = []
    wanted: dict[str, str] = {}
    for key in sorted(source_tags):
        value = source_tags[key]
        if key.startswith(RESERVED_TAG_PREFIX):
            continue
        if len(key) > MAX_TAG_KEY_LENGTH:
            omitted.append(TagOmission(key, f"key longer than {MAX_TAG_KEY_LENGTH} characters"))
        elif len(value) > MAX_TAG_VALUE_LENGTH:
            omitted.append(TagOmission(key, f"value longer than {MAX_TAG_VALUE_LENGTH} characters"))
        elif target_tags.get(key) != value:
            wanted[key] = value

    # Updating a key the target already has never adds to its count; new keys fill the room left.
    updates = {key: value for key, value in wanted.items() if key in target_tags}
    room = max(MAX_TAGS_PER_RESOURCE - len(target_tags) - reserved, 0)
    new_keys = sorted((k for k in wanted if k not in target_tags), key=lambda k: k not in first)
    for key in new_keys[room:]:
        omitted.append(TagOmission(key, f"over the limit of {MAX_TAGS_PER_RESOURCE} tags"))
    additions = {key: wanted[key] for key in new_keys[:room]}
    to_write = {**updates, **additions}
    if to_write == source_tags:
        to_write = source_tags  # The common first run: one dict per image, not two.
    return to_write, tuple(sorted(omitted, key=lambda o: o.key))


def copy_source_tags(
    source_tags: Mapping[str, str], target_tags: Mapping[str, str]
) -> tuple[Mapping[str, str], Iterable[str], tuple[TagOmission, ...]]:
    """The default tag planner: copy every source tag, delete nothing."""
    to_write, omitted = plan_tags(source_tags, target_tags)
    return to_write, (), omitted


TagPlanner = Callable[
    [Mapping[str, str], Mapping[str, str]],
    tuple[Mapping[str, str], Iterable[str], tuple[TagOmission, ...]],
]


def build_plan(
    images: Iterable[SourceImage],
    shared_image_ids: set[str],
    target_tags: Mapping[str, Mapping[str, str]] | None,
    principal: str,
    managed_key_image_ids: Container[str] = (),
    tag_planner: TagPlanner = copy_source_tags,
) -> Plan:
    """Decide, for every matched source image, whether to share it and which tags to write.

    `target_tags` is the target's own tags per image ID, or None when tags are not copied.
    """
    # Permissions are only added here; taking them back is _revoke.py's (state: absent,
    # ami_revoke), so a share that changes nothing never reads permissions per image.
    plans = []
    for image in sorted(images, key=lambda i: (i.name, i.image_id)):
        reason = skip_reason(image, managed_key_image_ids)
        current = (target_tags or {}).get(image.image_id, NO_TAGS)
        if reason is None and target_tags is not None:
            to_write, to_delete, omitted = tag_planner(image.tags, current)
        else:
            to_write, to_delete, omitted = {}, (), ()
        plans.append(
            ImagePlan(
                image=image,
                shared_before=image.image_id in shared_image_ids,
                target_tags=current,
                tags_to_write=to_write,
                omitted_tags=omitted,
                skip_reason=reason,
                tags_to_delete=tuple(to_delete),
            )
        )
    return Plan(principal, target_tags is not None, tuple(plans))


def tag_batches(
    writes: Mapping[str, Mapping[str, str]], limit: int = MAX_RESOURCES_PER_CREATE_TAGS
) -> list[tuple[dict[str, str], list[str]]]:
    """Group image IDs that get exactly the same tags, at most `limit` IDs per CreateTags call."""
    groups: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for image_id in sorted(writes):
        groups.setdefault(tuple(sorted(writes[image_id].items())), []).append(image_id)
    return [
        (dict(tags), image_ids[start : start + limit])
        for tags, image_ids in groups.items()
        for start in range(0, len(image_ids), limit)
    ]


def image_diff(plan: ImagePlan, done: Iterable[str], copy_tags: bool) -> dict[str, Any]:
    """The target's launch permission and tags before and after `done`, for Ansible's --diff."""
    done = list(done)
    header = f"{plan.image.image_id} ({plan.image.name})"
    before: dict[str, Any] = {"launch_permission": plan.shared_before}
    after: dict[str, Any] = {"launch_permission": plan.shared_before or SHARE in done}
    if copy_tags:
        before["tags"] = dict(plan.target_tags)
        kept = {
            k: v
            for k, v in plan.target_tags.items()
            if UNTAG not in done or k not in plan.tags_to_delete
        }
        after["tags"] = {**kept, **(plan.tags_to_write if TAG in done else {})}
    return {"before_header": header, "after_header": header, "before": before, "after": after}


def summary_diff(
    plan: Plan, shared: list[str], tagged: Iterable[str], untagged: Iterable[str]
) -> dict[str, Any]:
    """One diff for a share too large to show per image: counts, and the IDs of changed images."""
    header = f"{len(plan.images)} matched images (over {DETAIL_LIMIT}: summarised)"
    shared_before = sum(1 for p in plan.images if p.shared_before)
    before: dict[str, Any] = {"launch_permission": shared_before, "launch_permission_added": []}
    after: dict[str, Any] = {
        "launch_permission": shared_before + len(shared),
        "launch_permission_added": shared,
    }
    if plan.copy_tags:
        before.update(tags_written=[], tags_deleted=[])
        after.update(tags_written=sorted(tagged), tags_deleted=sorted(untagged))
    return {"before_header": header, "after_header": header, "before": before, "after": after}
