# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Applying a plan: isolation of failures per image, tagging after sharing, batching."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import Account
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import AwsError
from ansible_collections.resource_sharing.aws.plugins.module_utils._aws import map_bounded
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import apply_plan
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import (
    read_managed_key_images,
)
from ansible_collections.resource_sharing.aws.plugins.module_utils._images import read_source_images
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import SourceImage
from ansible_collections.resource_sharing.aws.plugins.module_utils._plan import build_plan

TARGET = "022222222222"


class RecordingAccount:
    """Stands in for `_aws.Account`: records calls, answers from a table, fails on demand."""

    def __init__(self, failing: dict[str, str] | None = None, answers: dict | None = None):
        self.failing = failing or {}  # image ID -> error code
        self.answers = answers or {}
        self.calls: list[tuple[str, dict]] = []
        self._lock = threading.Lock()

    def call(self, service: str, method: str, **params):
        with self._lock:
            self.calls.append((method, params))
        ids = [params["ImageId"]] if "ImageId" in params else params.get("Resources", [])
        for image_id in ids:
            if image_id in self.failing:
                raise AwsError(method, self.failing[image_id], f"{image_id} went wrong")
        answer = self.answers.get(method, {})
        if isinstance(answer, AwsError):
            raise answer
        return answer

    change = Account.change  # The real method, over this call.


def image(image_id: str, **tags: str) -> SourceImage:
    return SourceImage(image_id, f"name-{image_id}", "available", "111111111111", tags)


def test_shares_every_missing_image_with_the_target_only():
    source, target = RecordingAccount(), RecordingAccount()
    plan = build_plan([image("ami-1"), image("ami-2")], {"ami-2"}, None, TARGET)

    outcome = apply_plan(plan, source, target, workers=4)

    assert source.calls == [
        (
            "modify_image_attribute",
            {"ImageId": "ami-1", "LaunchPermission": {"Add": [{"UserId": TARGET}]}},
        )
    ]
    assert target.calls == []
    assert outcome.done == {"ami-1": ["share"]}


def test_one_failed_share_does_not_stop_the_others_nor_get_tagged():
    source = RecordingAccount(failing={"ami-2": "UnauthorizedOperation"})
    target = RecordingAccount()
    images = [image(f"ami-{n}", app="web", n=str(n)) for n in range(1, 5)]
    plan = build_plan(images, set(), {}, TARGET)

    outcome = apply_plan(plan, source, target, workers=3)

    assert sorted(outcome.done) == ["ami-1", "ami-3", "ami-4"]
    assert all(actions == ["share", "tag"] for actions in outcome.done.values())
    assert outcome.errors["ami-2"].as_dict() == {
        "operation": "modify_image_attribute",
        "code": "UnauthorizedOperation",
        "message": "ami-2 went wrong",
    }
    tagged = {r for method, params in target.calls for r in params["Resources"]}
    assert tagged == {"ami-1", "ami-3", "ami-4"}


def test_image_deregistered_before_its_share_is_gone_not_failed():
    source = RecordingAccount(
        failing={"ami-1": "InvalidAMIID.Unavailable", "ami-2": "InvalidAMIID.NotFound"}
    )
    target = RecordingAccount()
    images = [image(f"ami-{n}", app="web") for n in range(1, 4)]
    plan = build_plan(images, set(), {}, TARGET)

    outcome = apply_plan(plan, source, target, workers=2)

    assert outcome.errors == {}
    assert sorted(outcome.gone) == ["ami-1", "ami-2"]
    assert outcome.done == {"ami-3": ["share", "tag"]}
    tagged = {r for method, params in target.calls for r in params["Resources"]}
    assert tagged == {"ami-3"}


def test_tags_identical_tag_sets_in_one_call():
    source, target = RecordingAccount(), RecordingAccount()
    plan = build_plan([image("ami-1", app="web"), image("ami-2", app="web")], set(), {}, TARGET)

    apply_plan(plan, source, target, workers=2)

    assert target.calls == [
        (
            "create_tags",
            {"Resources": ["ami-1", "ami-2"], "Tags": [{"Key": "app", "Value": "web"}]},
        )
    ]


def test_a_failed_batch_is_retried_per_image_to_find_the_culprit():
    source = RecordingAccount()
    target = RecordingAccount(failing={"ami-2": "InvalidAMIID.NotFound"})
    images = [image("ami-1", app="web"), image("ami-2", app="web"), image("ami-3", app="web")]
    plan = build_plan(images, {"ami-1", "ami-2", "ami-3"}, {}, TARGET)

    outcome = apply_plan(plan, source, target, workers=2)

    assert [call[1]["Resources"] for call in target.calls] == [
        ["ami-1", "ami-2", "ami-3"],
        ["ami-1"],
        ["ami-2"],
        ["ami-3"],
    ]
    assert outcome.done == {"ami-1": ["tag"], "ami-3": ["tag"]}
    assert outcome.errors["ami-2"].code == "InvalidAMIID.NotFound"


def test_applies_nothing_for_an_empty_plan():
    source, target = RecordingAccount(), RecordingAccount()
    plan = build_plan([image("ami-1", app="web")], {"ami-1"}, {"ami-1": {"app": "web"}}, TARGET)

    outcome = apply_plan(plan, source, target, workers=8)

    assert source.calls == target.calls == []
    assert outcome.done == {} and outcome.errors == {}


def encrypted(image_id: str, *snapshot_ids: str) -> SourceImage:
    return SourceImage(
        image_id, image_id, "available", "111111111111", {}, True, tuple(snapshot_ids)
    )


def test_finds_images_encrypted_with_the_aws_managed_key_in_two_calls():
    managed = "arn:aws:kms:us-east-1:111111111111:key/managed"
    source = RecordingAccount(
        answers={
            "describe_key": {"KeyMetadata": {"Arn": managed}},
            "describe_snapshots": {
                "Snapshots": [
                    {"SnapshotId": "snap-1", "KmsKeyId": managed},
                    {"SnapshotId": "snap-2", "KmsKeyId": "arn:aws:kms:us-east-1:1:key/cmk"},
                ]
            },
        }
    )

    found = read_managed_key_images(
        source, [encrypted("ami-1", "snap-1"), encrypted("ami-2", "snap-2")]
    )

    assert found == {"ami-1"}
    assert [call[0] for call in source.calls] == ["describe_key", "describe_snapshots"]
    assert source.calls[1][1] == {"SnapshotIds": ["snap-1", "snap-2"]}


def test_no_aws_managed_key_in_the_account_means_no_snapshot_lookup():
    missing = AwsError("DescribeKey", "NotFoundException", "Alias alias/aws/ebs is not found.")
    source = RecordingAccount(answers={"describe_key": missing})

    assert read_managed_key_images(source, [encrypted("ami-1", "snap-1")]) == set()
    assert [call[0] for call in source.calls] == ["describe_key"]


class ListingAccount:
    """Stands in for `_aws.Account` for listings: one answer, and how often it was asked."""

    def __init__(self, images: list[dict]):
        self.images = images
        self.listings = 0

    def paginate(self, service: str, method: str, key: str, **params):
        self.listings += 1
        yield from self.images


def test_several_name_regexes_share_one_listing_and_keep_each_image_once():
    source = ListingAccount(
        [
            {"ImageId": "ami-1", "Name": "web-1", "State": "available"},
            {"ImageId": "ami-2", "Name": "web-api-2", "State": "available"},
            {"ImageId": "ami-3", "Name": "db-3", "State": "available"},
            {"ImageId": "ami-4", "Name": "api-4", "State": "available"},
        ]
    )

    images = read_source_images(source, [re.compile("^web-"), re.compile("api-")])

    assert [i.image_id for i in images] == ["ami-1", "ami-2", "ami-4"]
    assert source.listings == 1


def test_map_bounded_keeps_the_order_and_pulls_only_a_window_of_items_ahead():
    pulled = []

    def items():
        for number in range(1000):
            pulled.append(number)
            yield number

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = map_bounded(pool, 2, lambda number: number * 2, items())
        first = next(results)
        ahead = len(pulled)
        rest = list(results)

    assert [first, *rest] == [n * 2 for n in range(1000)]
    assert ahead <= 9
