# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""The sharing plan, computed from plain data: no AWS, no mocks."""

from __future__ import annotations

import re
import time

import pytest
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import (
    REGEX_SECONDS_PER_NAME,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import RegexTooSlow
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import build_plan
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import image_diff
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import name_matches
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import plan_tags
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import tag_batches
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import tags_to_list

TARGET = "022222222222"
SOURCE = "111111111111"


def image(image_id: str, name: str, state: str = "available", **tags: str) -> SourceImage:
    return SourceImage(image_id=image_id, name=name, state=state, owner_id=SOURCE, tags=tags)


def test_reads_describe_images_entry_into_source_image():
    entry = {
        "ImageId": "ami-1",
        "Name": "web-1",
        "State": "available",
        "OwnerId": SOURCE,
        "Tags": [{"Key": "app", "Value": "web"}],
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-1", "Encrypted": True}},
            {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": "snap-2", "Encrypted": False}},
            {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"},
        ],
    }

    source_image = SourceImage.from_describe(entry)

    assert source_image.image_id == "ami-1"
    assert source_image.tags == {"app": "web"}
    assert source_image.encrypted is True
    assert source_image.encrypted_snapshot_ids == ("snap-1",)


def test_name_regex_is_searched_anywhere_in_the_name():
    pattern = re.compile("web")

    assert name_matches(pattern, "app-web-1")
    assert not name_matches(pattern, "app-api-1")
    assert not name_matches(re.compile("^web"), "app-web-1")


def test_shares_and_tags_an_image_the_target_has_not_got():
    plan = build_plan([image("ami-1", "web-1", app="web")], set(), {}, TARGET)

    (only,) = plan.images
    assert only.actions == ["share", "tag"]
    assert dict(only.tags_to_write) == {"app": "web"}
    assert plan.actions() == [
        {"action": "share", "image_id": "ami-1", "account_id": TARGET},
        {"action": "tag", "image_id": "ami-1", "tags": {"app": "web"}},
    ]


def test_plans_nothing_when_shared_and_tagged_already():
    plan = build_plan(
        [image("ami-1", "web-1", app="web")], {"ami-1"}, {"ami-1": {"app": "web"}}, TARGET
    )

    assert plan.images[0].actions == []
    assert plan.changes == []
    assert plan.actions() == []


def test_skips_pending_and_failed_images_with_the_reason():
    images = [
        image("ami-1", "web-1", state="pending", app="web"),
        image("ami-2", "web-2", state="failed"),
        image("ami-3", "web-3"),
    ]

    plan = build_plan(images, set(), {}, TARGET)

    assert [(p.image.image_id, p.skip_reason) for p in plan.skipped] == [
        ("ami-1", "state is pending, only available images can be shared"),
        ("ami-2", "state is failed, only available images can be shared"),
    ]
    assert [a["image_id"] for a in plan.actions()] == ["ami-3"]


def test_skips_images_encrypted_with_the_aws_managed_key():
    images = [image("ami-1", "web-1", app="web"), image("ami-2", "web-2", app="web")]

    plan = build_plan(images, set(), {}, TARGET, managed_key_image_ids={"ami-2"})

    assert [p.image.image_id for p in plan.skipped] == ["ami-2"]
    assert "aws/ebs" in plan.skipped[0].skip_reason
    assert plan.skipped[0].tags_to_write == {}


def test_tags_an_image_shared_before_whose_tags_are_missing():
    plan = build_plan([image("ami-1", "web-1", app="web")], {"ami-1"}, {}, TARGET)

    assert plan.images[0].actions == ["tag"]
    assert plan.images[0].shared_before is True


def test_writes_only_tags_missing_or_different_in_the_target():
    to_write, omitted = plan_tags(
        {"app": "web", "version": "2", "team": "platform"},
        {"app": "web", "version": "1"},
    )

    assert to_write == {"version": "2", "team": "platform"}
    assert omitted == ()


def test_leaves_tags_the_target_set_itself_alone():
    plan = build_plan(
        [image("ami-1", "web-1", app="web")],
        {"ami-1"},
        {"ami-1": {"app": "web", "cost-center": "42"}},
        TARGET,
    )

    assert plan.images[0].actions == []
    diff = image_diff(plan.images[0], ["tag"], copy_tags=True)
    assert diff["after"]["tags"] == {"app": "web", "cost-center": "42"}


def test_never_copies_reserved_aws_tags():
    to_write, omitted = plan_tags({"aws:cloudformation:stack-name": "builder", "app": "web"}, {})

    assert to_write == {"app": "web"}
    assert omitted == ()


def test_reports_keys_and_values_over_the_aws_length_limits():
    source_tags = {"k" * 129: "v", "long-value": "v" * 257, "k" * 128: "v" * 256}

    to_write, omitted = plan_tags(source_tags, {})

    assert to_write == {"k" * 128: "v" * 256}
    assert [o.as_dict() for o in omitted] == [
        {"key": "k" * 129, "reason": "key longer than 128 characters"},
        {"key": "long-value", "reason": "value longer than 256 characters"},
    ]


def test_fills_up_to_fifty_tags_counting_the_targets_own_and_reports_the_rest():
    target_tags = {f"own-{n:02}": "x" for n in range(45)}
    source_tags = {f"src-{n:02}": "y" for n in range(8)}

    to_write, omitted = plan_tags(source_tags, target_tags)

    assert sorted(to_write) == [f"src-{n:02}" for n in range(5)]
    assert [o.key for o in omitted] == ["src-05", "src-06", "src-07"]
    assert {o.reason for o in omitted} == {"over the limit of 50 tags"}


def test_updates_existing_keys_even_when_the_target_is_full():
    target_tags = {f"own-{n:02}": "x" for n in range(49)} | {"version": "1"}

    to_write, omitted = plan_tags({"version": "2", "extra": "z"}, target_tags)

    assert to_write == {"version": "2"}
    assert [o.key for o in omitted] == ["extra"]


def test_without_copy_tags_plans_shares_only():
    plan = build_plan([image("ami-1", "web-1", app="web")], set(), None, TARGET)

    assert plan.copy_tags is False
    assert plan.images[0].actions == ["share"]
    diff = image_diff(plan.images[0], ["share"], copy_tags=False)
    assert diff["before"] == {"launch_permission": False}
    assert diff["after"] == {"launch_permission": True}


def test_diff_names_the_image_and_shows_target_permission_and_tags():
    plan = build_plan([image("ami-1", "web-1", app="web")], set(), {"ami-1": {"own": "x"}}, TARGET)

    diff = image_diff(plan.images[0], ["share", "tag"], copy_tags=True)

    assert diff == {
        "before_header": "ami-1 (web-1)",
        "after_header": "ami-1 (web-1)",
        "before": {"launch_permission": False, "tags": {"own": "x"}},
        "after": {"launch_permission": True, "tags": {"own": "x", "app": "web"}},
    }


def test_diff_after_a_failed_tag_write_shows_the_tags_unchanged():
    plan = build_plan([image("ami-1", "web-1", app="web")], set(), {}, TARGET)

    diff = image_diff(plan.images[0], ["share"], copy_tags=True)

    assert diff["after"] == {"launch_permission": True, "tags": {}}


def test_groups_images_with_identical_tags_into_one_batch():
    writes = {
        "ami-1": {"app": "web"},
        "ami-2": {"app": "web"},
        "ami-3": {"app": "api"},
    }

    assert tag_batches(writes) == [
        ({"app": "web"}, ["ami-1", "ami-2"]),
        ({"app": "api"}, ["ami-3"]),
    ]


def test_splits_batches_at_the_resource_limit():
    writes = {f"ami-{n}": {"app": "web"} for n in range(5)}

    batches = tag_batches(writes, limit=2)

    assert [batch[1] for batch in batches] == [["ami-0", "ami-1"], ["ami-2", "ami-3"], ["ami-4"]]


def test_tags_are_sent_to_aws_sorted_by_key():
    assert tags_to_list({"b": "2", "a": "1"}) == [
        {"Key": "a", "Value": "1"},
        {"Key": "b", "Value": "2"},
    ]


def test_plan_lists_images_by_name_then_id():
    images = [image("ami-2", "web-b"), image("ami-3", "web-a"), image("ami-1", "web-a")]

    plan = build_plan(images, set(), None, TARGET)

    assert [p.image.image_id for p in plan.images] == ["ami-1", "ami-3", "ami-2"]


def test_a_regex_that_backtracks_without_end_is_stopped_within_its_time_limit():
    pattern = re.compile(r"^(a|aa)+$")
    started = time.monotonic()

    with pytest.raises(RegexTooSlow) as raised:
        name_matches(pattern, "a" * 60 + "!")

    assert time.monotonic() - started < REGEX_SECONDS_PER_NAME + 2
    assert "'^(a|aa)+$' took more than 1 s on the image name 'aaaa" in str(raised.value)
    # The timer is disarmed afterwards: an ordinary match still works.
    assert name_matches(re.compile("^web-"), "web-1")
