# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Tag policy: which source tags reach the target, extra tags, and pruning what the product wrote.

To prune, the product must tell the tags it wrote from the tags the target set itself. It
records the keys it manages on the target's own view of each image, in the tag
`resource-sharing-aws:managed-keys` (and `...:2`, `...:3` when the list is longer than one
tag value holds). The record counts towards AWS's 50 tags per resource, like any tag.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import MAX_TAG_VALUE_LENGTH
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import TagOmission
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import plan_tags

RECORD_KEY = "resource-sharing-aws:managed-keys"
RECORD_SEPARATOR = ","


@dataclass(frozen=True)
class TagPolicy:
    """Which source tag keys are copied, which tags are added, and whether stale ones go."""

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)
    prune: bool = False

    def selects(self, key: str) -> bool:
        """Whether a source tag key passes the include and exclude patterns (shell globs)."""
        if is_record_key(key):
            return False
        included = any(fnmatch.fnmatchcase(key, p) for p in self.include)
        return included and not any(fnmatch.fnmatchcase(key, p) for p in self.exclude)

    def wanted(self, source_tags: Mapping[str, str]) -> Mapping[str, str]:
        """The tags the target should hold for an image with these source tags."""
        default = self.include == ("*",) and not self.exclude and not self.extra
        if default and not any(is_record_key(k) for k in source_tags):
            return source_tags  # The default: no copy per image.
        selected = {k: v for k, v in source_tags.items() if self.selects(k)}
        return {**selected, **self.extra}


DEFAULT_POLICY = TagPolicy()


def is_record_key(key: str) -> bool:
    """Whether a tag key is (a chunk of) the product's record of managed keys."""
    return key == RECORD_KEY or key.startswith(RECORD_KEY + ":")


def _escape(key: str) -> str:
    return key.replace("%", "%25").replace(RECORD_SEPARATOR, "%2C")


def _unescape(key: str) -> str:
    return key.replace("%2C", RECORD_SEPARATOR).replace("%25", "%")


def encode_record(keys: Iterable[str]) -> dict[str, str]:
    """The record tags for these managed keys: as few chunks of at most 256 characters as fit."""
    chunks: list[str] = []
    for key in sorted(set(keys)):
        escaped = _escape(key)
        if chunks and len(chunks[-1]) + 1 + len(escaped) <= MAX_TAG_VALUE_LENGTH:
            chunks[-1] += RECORD_SEPARATOR + escaped
        else:
            # A 128-character key escapes to at most 384 characters; such a key is cut
            # into its own chunk's limit, which loses it from the record (never wrongly prunes).
            chunks.append(escaped[:MAX_TAG_VALUE_LENGTH])
    return {RECORD_KEY if i == 0 else f"{RECORD_KEY}:{i + 1}": c for i, c in enumerate(chunks)}


def decode_record(target_tags: Mapping[str, str]) -> set[str]:
    """The keys the product recorded as written on this image, from the target's tags."""
    keys: set[str] = set()
    for key, value in target_tags.items():
        if is_record_key(key) and value:
            keys.update(_unescape(k) for k in value.split(RECORD_SEPARATOR))
    return keys


def plan_image_tags(
    policy: TagPolicy, source_tags: Mapping[str, str], target_tags: Mapping[str, str]
) -> tuple[dict[str, str], list[str], tuple[TagOmission, ...]]:
    """Tags to write, keys to delete and omitted tags for one image in the target.

    Without pruning this is the plain copy of `plan_tags`. With it, keys of the old record
    that are no longer wanted are deleted (only those, and only if the target still has
    them), and the record is rewritten to name exactly the keys the target now holds for
    the product; the record's own tags are counted in the 50-tag limit.
    """
    wanted = policy.wanted(source_tags)
    if not policy.prune:
        to_write, omitted = plan_tags(wanted, target_tags, first=policy.extra)
        return to_write, [], omitted

    previously = decode_record(target_tags)
    stale = sorted(k for k in previously - set(wanted) if k in target_tags)
    kept = {k: v for k, v in target_tags.items() if k not in stale and not is_record_key(k)}
    reserved = len(encode_record(wanted))
    to_write, omitted = plan_tags(wanted, kept, reserved, first=policy.extra)

    dropped = {o.key for o in omitted}
    record = encode_record(k for k in wanted if k not in dropped and not k.startswith("aws:"))
    old_record = {k: v for k, v in target_tags.items() if is_record_key(k)}
    record_writes = {k: v for k, v in record.items() if old_record.get(k) != v}
    stale += sorted(k for k in old_record if k not in record)
    return {**to_write, **record_writes}, stale, omitted
