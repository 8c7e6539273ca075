"""The main job end to end: account files -> inventory -> role -> module -> local AWS."""

from __future__ import annotations

import shutil

from harness import FIXTURES
from harness import MUTATING
from harness import run_playbook

FLEET = FIXTURES / "fleet" / "inventory.app_interface.yml"
BUILDER, STAGE, PROD = "100000000001", "200000000002", "000000000003"


def test_first_run_shares_exactly_the_matching_available_images(fleet_aws):
    run = run_playbook(fleet_aws, FLEET)

    assert run.returncode == 0, run.output
    assert set(fleet_aws.shared_with(STAGE, "us-east-1")) == {"service-a-1", "service-a-2"}
    assert set(fleet_aws.shared_with(PROD, "us-west-2")) == {"service-a-west-1"}
    # service-c-1 was already shared with prod; nothing else of us-east-1 is for prod.
    assert set(fleet_aws.shared_with(PROD, "us-east-1")) == {"service-c-1"}
    assert fleet_aws.shared_with(STAGE, "us-west-2") == {}


def test_source_tags_are_visible_in_each_target_in_the_share_region(fleet_aws):
    run_playbook(fleet_aws, FLEET)

    stage_east = fleet_aws.shared_with(STAGE, "us-east-1")
    assert stage_east["service-a-1"] == {"app": "service-a", "version": "1", "team": "platform"}
    assert stage_east["service-a-2"] == {"app": "service-a", "version": "2"}
    # The region override: tags are written where the image lives, in us-west-2.
    prod_west = fleet_aws.shared_with(PROD, "us-west-2")
    assert prod_west["service-a-west-1"] == {"app": "service-a", "version": "1", "region": "west"}
    assert fleet_aws.shared_with(PROD, "us-east-1")["service-c-1"] == {
        "app": "service-c",
        "version": "7",
    }


def test_target_own_tags_are_kept_and_differing_values_are_corrected(fleet_aws):
    prod = fleet_aws.ec2(PROD, "us-east-1")
    (image,) = prod.describe_images(ExecutableUsers=["self"])["Images"]
    prod.create_tags(
        Resources=[image["ImageId"]],
        Tags=[{"Key": "owner", "Value": "prod-team"}, {"Key": "version", "Value": "6"}],
    )

    run_playbook(fleet_aws, FLEET)

    assert fleet_aws.shared_with(PROD, "us-east-1")["service-c-1"] == {
        "app": "service-c",
        "version": "7",
        "owner": "prod-team",
    }


def test_second_run_changes_nothing_and_makes_no_mutating_call(fleet_aws):
    first = run_playbook(fleet_aws, FLEET)
    assert first.returncode == 0 and first.changed > 0, first.output
    fleet_aws.reset_calls()

    second = run_playbook(fleet_aws, FLEET)

    assert second.returncode == 0, second.output
    assert second.changed == 0, second.output
    calls = fleet_aws.calls()
    assert not MUTATING & set(calls), calls
    assert "ec2:DescribeImageAttribute" not in calls
    # A fixed number of list calls per share (three shares), whatever the number of images.
    assert calls["ec2:DescribeImages"] <= 3 * 3, calls


def test_check_mode_reports_the_plan_and_mutates_nothing(fleet_aws):
    fleet_aws.reset_calls()

    run = run_playbook(fleet_aws, FLEET, "--check", "--diff")

    assert run.returncode == 0, run.output
    assert run.changed > 0, run.output
    assert not MUTATING & set(fleet_aws.calls())
    assert set(fleet_aws.shared_with(STAGE, "us-east-1")) == set()
    assert fleet_aws.shared_with(PROD, "us-east-1") == {"service-c-1": {}}
    # The diff names the images that would be shared.
    for name in ("service-a-1", "service-a-2", "service-a-west-1", "service-c-1"):
        assert name in run.output
    assert "service-b-1" not in run.output


def test_check_mode_after_apply_has_nothing_to_do(fleet_aws):
    run_playbook(fleet_aws, FLEET)

    check = run_playbook(fleet_aws, FLEET, "--check", "--diff")

    assert check.returncode == 0, check.output
    assert check.changed == 0, check.output


def test_an_empty_endpoint_is_refused_and_never_means_real_aws(fleet_aws):
    # Should the refusal ever regress, any call would go to a closed loopback port instead.
    trap = {"HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    fleet_aws.reset_calls()

    run = run_playbook(fleet_aws, FLEET, "-e", "ami_share_endpoint_url=", env=trap)

    assert run.returncode != 0
    assert "endpoint_url must be an http(s) URL, got ''" in run.output
    assert "amazonaws.com" not in run.output
    assert fleet_aws.calls() == {}


def test_jinja_in_an_account_file_is_never_run_on_the_controller(fleet_aws, tmp_path):
    marker = tmp_path / "templated"
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET.parent, fleet)
    builder = fleet / "data" / "aws" / "builder" / "account.yml"
    builder.write_text(
        builder.read_text()
        + "- provider: ami\n"
        + "  account:\n"
        + "    $ref: /aws/stage/account.yml\n"
        + f'  regex: \'^x-{{{{ lookup("pipe", "touch {marker}") }}}}\'\n'
    )

    run = run_playbook(fleet_aws, fleet / FLEET.name, "--check")

    assert not marker.exists(), run.output
    assert set(fleet_aws.shared_with(STAGE, "us-east-1")) == set()
