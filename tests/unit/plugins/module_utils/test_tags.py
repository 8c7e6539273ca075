# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""The tag policy and the record of managed keys, computed without AWS."""

from __future__ import annotations

from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import RECORD_KEY
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import TagPolicy
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import decode_record
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import encode_record
from ansible_collections.resource_sharing.aws.plugins.module_utils._tags import plan_image_tags

PRUNE = TagPolicy(prune=True)


def test_include_and_exclude_patterns_select_source_keys_and_extra_tags_win():
    policy = TagPolicy(include=("app", "build-*"), exclude=("build-log",), extra={"app": "x"})

    wanted = policy.wanted({"app": "web", "build-id": "7", "build-log": "...", "team": "a"})

    assert wanted == {"app": "x", "build-id": "7"}


def test_the_record_round_trips_keys_with_commas_and_percent_signs():
    keys = {"a,b", "100%", "plain"}

    assert decode_record(encode_record(keys)) == keys


def test_a_long_record_is_split_into_chunks_of_at_most_256_characters():
    keys = {f"key-{i:03d}-{'x' * 100}" for i in range(6)}

    record = encode_record(keys)

    assert list(record) == [RECORD_KEY, f"{RECORD_KEY}:2", f"{RECORD_KEY}:3"]
    assert all(len(value) <= 256 for value in record.values())
    assert decode_record(record) == keys


def test_without_prune_nothing_is_deleted_and_no_record_is_written():
    to_write, to_delete = plan_image_tags(TagPolicy(), {"app": "web"}, {"old": "1"})[:2]

    assert (to_write, to_delete) == ({"app": "web"}, [])


def test_prune_writes_the_record_of_the_keys_it_manages():
    to_write, to_delete = plan_image_tags(PRUNE, {"app": "web", "v": "1"}, {"own": "t"})[:2]

    assert to_write == {"app": "web", "v": "1", RECORD_KEY: "app,v"}
    assert to_delete == []


def test_prune_deletes_a_recorded_key_the_source_dropped_and_keeps_the_target_own_tags():
    target = {"app": "web", "v": "1", "own": "t", RECORD_KEY: "app,v"}

    to_write, to_delete = plan_image_tags(PRUNE, {"app": "web"}, target)[:2]

    assert to_delete == ["v"]
    assert to_write == {RECORD_KEY: "app"}


def test_prune_of_an_unchanged_image_plans_nothing():
    target = {"app": "web", "own": "t", RECORD_KEY: "app"}

    assert plan_image_tags(PRUNE, {"app": "web"}, target)[:2] == ({}, [])


def test_the_record_counts_towards_the_limit_of_fifty_tags():
    target = {f"own-{i}": "t" for i in range(48)}

    to_write, to_delete, omitted = plan_image_tags(PRUNE, {"a": "1", "b": "2"}, target)
    assert to_delete == []

    assert to_write == {"a": "1", RECORD_KEY: "a"}
    assert [o.key for o in omitted] == ["b"]


def test_a_source_tag_named_like_the_record_is_never_copied():
    source = {"app": "web", RECORD_KEY: "mine", f"{RECORD_KEY}:2": "zzz"}

    assert TagPolicy().wanted(source) == {"app": "web"}
    assert plan_image_tags(TagPolicy(), source, {})[0] == {"app": "web"}


def test_an_empty_include_list_copies_no_source_tag_but_writes_the_extra_tags():
    policy = TagPolicy(include=(), extra={"shared-from": "builder"})

    assert policy.wanted({"app": "web"}) == {"shared-from": "builder"}


def test_extra_tags_get_the_room_first_when_not_every_tag_fits():
    source = {f"k{i:02d}": "v" for i in range(50)}
    policy = TagPolicy(extra={"shared-from": "builder"})

    to_write, to_delete, omitted = plan_image_tags(policy, source, {})

    assert to_write["shared-from"] == "builder"
    assert len(to_write) == 50
    assert [o.key for o in omitted] == ["k49"]
    assert to_delete == []
