# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""One image failing against the local AWS does not stop the others.

These run the module's reconcile in-process so that an image can be deregistered at
an exact moment: after the plan was computed and before it is applied (or between
an image's share and its tags), as happens when a build job cleans up mid-run.
"""

from __future__ import annotations

import pytest
from ansible_collections.resource_sharing.aws.plugins.module_utils import _images
from ansible_collections.resource_sharing.aws.plugins.module_utils import _share
from harness import CALLER_ENV
from harness import REPO
from harness import LocalAws

SEED = REPO / "tests" / "fixtures" / "module" / "local-aws-seed.yml"
SOURCE, TARGET = "111111111111", "022222222222"
# app-web-old is shared already; the other three are shared by the run.
IMAGES = {"app-web-1", "app-web-2", "app-web-cmk", "app-web-old"}


def params(aws: LocalAws) -> dict:
    return {
        "region": "us-east-1",
        "name_regex": "^app-web-[0-9a-z]+$",
        "source_account_id": SOURCE,
        "target_account_id": TARGET,
        "copy_tags": True,
        "source_role_arn": f"arn:aws:iam::{SOURCE}:role/ami-share",
        "target_role_arn": f"arn:aws:iam::{TARGET}:role/ami-share",
        "external_id": None,
        "role_session_name": None,
        "access_key": CALLER_ENV["AWS_ACCESS_KEY_ID"],
        "secret_key": CALLER_ENV["AWS_SECRET_ACCESS_KEY"],
        "session_token": None,
        "profile": None,
        "endpoint_url": aws.url,
        "workers": 4,
        "max_attempts": 3,
        "connect_timeout": 3.0,
        "read_timeout": 10.0,
    }


@pytest.fixture
def aws(local_aws_factory) -> LocalAws:
    return local_aws_factory(SEED)


def source_image_ids(aws: LocalAws) -> dict[str, str]:
    images = aws.ec2(SOURCE, "us-east-1").describe_images(Owners=["self"])["Images"]
    return {image["Name"]: image["ImageId"] for image in images}


def by_name(result: dict) -> dict[str, dict]:
    return {image["name"]: image for image in result["images"]}


def test_an_image_deregistered_before_its_share_is_skipped_and_the_others_go_on(aws, monkeypatch):
    ids = source_image_ids(aws)
    apply_plan = _share.apply_plan

    def deregister_then_apply(*args, **kwargs):
        aws.ec2(SOURCE, "us-east-1").deregister_image(ImageId=ids["app-web-2"])
        return apply_plan(*args, **kwargs)

    monkeypatch.setattr(_share, "apply_plan", deregister_then_apply)

    result = _share.reconcile(params(aws), check_mode=False, diff=False)

    # DESIGN.md fact 2: a deregistered image is skipped, not an error.
    assert result["failures"] == []
    (gone,) = [s for s in result["skipped_images"] if s["image_id"] == ids["app-web-2"]]
    assert gone["reason"].startswith("deregistered during the run (ModifyImageAttribute: ")
    assert set(result["shared"]) == {ids["app-web-1"], ids["app-web-cmk"]}
    assert set(result["tagged"]) == {ids["app-web-1"], ids["app-web-cmk"], ids["app-web-old"]}
    assert by_name(result)["app-web-2"]["done"] == []
    assert set(aws.shared_with(TARGET, "us-east-1")) == IMAGES - {"app-web-2"}


def test_an_image_deregistered_between_share_and_tags_keeps_its_share_and_fails_its_tags(
    aws, monkeypatch
):
    ids = source_image_ids(aws)
    share_image = _images.share_image

    def share_then_deregister(source, target_account_id, image_id):
        error = share_image(source, target_account_id, image_id)
        if image_id == ids["app-web-1"]:
            aws.ec2(SOURCE, "us-east-1").deregister_image(ImageId=image_id)
        return error

    monkeypatch.setattr(_images, "share_image", share_then_deregister)

    result = _share.reconcile(params(aws), check_mode=False, diff=False)

    (failure,) = result["failures"]
    assert (failure["image_id"], failure["operation"]) == (ids["app-web-1"], "CreateTags")
    assert by_name(result)["app-web-1"]["done"] == ["share"]
    assert by_name(result)["app-web-1"]["error"]["code"] == failure["code"]
    assert set(result["tagged"]) == {ids["app-web-2"], ids["app-web-cmk"], ids["app-web-old"]}
    assert aws.shared_with(TARGET, "us-east-1")["app-web-2"] == {"app": "web", "version": "2"}
