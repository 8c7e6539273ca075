# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright: Contributors to the resource_sharing.aws project
"""Tag policy against the local AWS: include/exclude, extra tags, pruning with the record."""

from __future__ import annotations

from harness import MUTATING
from harness import REPO
from harness import run_module

SEED = REPO / "tests" / "fixtures" / "module" / "local-aws-seed.yml"
PLAYBOOK = REPO / "tests" / "fixtures" / "module" / "run-ami-share.yml"
SOURCE, TARGET = "111111111111", "022222222222"
RECORD = "resource-sharing-aws:managed-keys"


def role(uid: str) -> str:
    return f"arn:aws:iam::{uid}:role/ami-share"


def share_of_app_web_1(aws, **options) -> dict:
    """The module arguments of a share of the image app-web-1, with these tag options."""
    return {
        "region": "us-east-1",
        "name_regex": "^app-web-1$",
        "source_account_id": SOURCE,
        "target_account_id": TARGET,
        "source_role_arn": role(SOURCE),
        "target_role_arn": role(TARGET),
        "endpoint_url": aws.url,
        **options,
    }


def test_policy_copies_selected_tags_adds_extra_ones_and_prunes_only_what_it_wrote(
    local_aws_factory, tmp_path
):
    aws = local_aws_factory(SEED)
    args = share_of_app_web_1(
        aws, tag_exclude=["app"], extra_tags={"shared-from": "builder"}, prune_tags=True
    )
    source = aws.ec2(SOURCE, "us-east-1")
    target = aws.ec2(TARGET, "us-east-1")
    image_id = source.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["app-web-1"]}]
    )["Images"][0]["ImageId"]

    def target_tags() -> dict[str, str]:
        images = target.describe_images(ImageIds=[image_id])["Images"]
        return {t["Key"]: t["Value"] for t in images[0].get("Tags", [])}

    first = run_module(aws, PLAYBOOK, args, tmp_path)
    assert first["failures"] == []
    assert target_tags() == {
        "version": "1",
        "shared-from": "builder",
        RECORD: "shared-from,version",
    }

    # The target adds a tag of its own; the source drops "version".
    target.create_tags(Resources=[image_id], Tags=[{"Key": "owner", "Value": "team-t"}])
    source.delete_tags(Resources=[image_id], Tags=[{"Key": "version"}])
    aws.reset_calls()
    preview = run_module(aws, PLAYBOOK, args, tmp_path, "--check", "--diff")
    assert not MUTATING & set(aws.calls())
    assert preview["untagged"] == {image_id: ["version"]}
    assert preview["diff"][0]["after"]["tags"] == {
        "shared-from": "builder",
        "owner": "team-t",
        RECORD: "shared-from",
    }

    second = run_module(aws, PLAYBOOK, args, tmp_path)

    assert second["untagged"] == preview["untagged"]
    assert target_tags() == {"shared-from": "builder", "owner": "team-t", RECORD: "shared-from"}
    aws.reset_calls()
    third = run_module(aws, PLAYBOOK, args, tmp_path)
    assert third["changed"] is False
    assert not MUTATING & set(aws.calls())


def test_a_source_tag_named_like_the_record_never_reaches_the_target_nor_prunes_its_own_tags(
    local_aws_factory, tmp_path
):
    aws = local_aws_factory(SEED)
    args = share_of_app_web_1(aws, extra_tags={"cost-center": 1234})
    source = aws.ec2(SOURCE, "us-east-1")
    target = aws.ec2(TARGET, "us-east-1")
    image_id = source.describe_images(
        Owners=["self"], Filters=[{"Name": "name", "Values": ["app-web-1"]}]
    )["Images"][0]["ImageId"]
    source.create_tags(
        Resources=[image_id],
        Tags=[{"Key": RECORD, "Value": "mine,app"}, {"Key": f"{RECORD}:2", "Value": "zzz"}],
    )

    run_module(aws, PLAYBOOK, args, tmp_path)
    target.create_tags(Resources=[image_id], Tags=[{"Key": "mine", "Value": "x"}])
    pruned = run_module(aws, PLAYBOOK, {**args, "prune_tags": True}, tmp_path)
    aws.reset_calls()
    again = run_module(aws, PLAYBOOK, {**args, "prune_tags": True}, tmp_path)

    assert pruned["failures"] == []
    tags = target.describe_images(ImageIds=[image_id])["Images"][0]["Tags"]
    tags = {t["Key"]: t["Value"] for t in tags}
    assert tags["mine"] == "x"
    assert tags["cost-center"] == "1234"
    assert f"{RECORD}:2" not in tags
    assert "mine" not in tags[RECORD].split(",")
    assert again["changed"] is False
    assert not MUTATING & set(aws.calls())
