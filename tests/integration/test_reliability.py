"""One bad share, one fault or one crash never costs the rest of the fleet (issue 4).

Every test runs the real playbook against the local AWS and checks the end state
as each target account sees it (tests/integration/desired.py).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import time

from desired import assert_desired_state
from desired import desired_state
from harness import FIXTURES
from harness import REPO
from harness import kill_tree
from harness import parse_recap
from harness import run_playbook
from harness import start_playbook

FLEET = FIXTURES / "reliability"
INVENTORY = FLEET / "inventory.app_interface.yml"
SEED = FLEET / "local-aws-seed.yml"
EXAMPLE = REPO / "examples" / "app-interface"
BUILDER, TOOLS, STAGE, PROD = "100000000001", "400000000004", "200000000002", "000000000003"
# The bound for a share that cannot reach AWS or whose credentials are refused.
FAILURE_BOUND_SECONDS = 60


def image_ids(aws, uid: str, region: str) -> dict[str, str]:
    images = aws.ec2(uid, region).describe_images(Owners=["self"])["Images"]
    return {image["Name"]: image["ImageId"] for image in images}


def failure_lines(output: str) -> list[str]:
    """The lines of the role's final failure message, one per failed share or image."""
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith("fatal: [builder]: FAILED! => "):
            message = json.loads(line.split(" => ", 1)[1])["msg"]
            # Each failed share's own task failure is ignored; the host's last one lists all.
            if isinstance(message, list):
                lines = message
    return lines


def test_a_failing_share_role_region_or_image_stops_nothing_else(local_aws_factory, tmp_path):
    fleet = tmp_path / "fleet"
    shutil.copytree(FLEET, fleet)
    builder_file = fleet / "data" / "aws" / "builder" / "account.yml"
    # A fourth entry whose region is well formed but exists nowhere: invalid (inventory).
    builder_file.write_text(
        builder_file.read_text()
        + "- provider: ami\n  account:\n    $ref: /aws/prod/account.yml\n"
        + "  regex: '^base-'\n  region: us-east-9\n"
    )
    aws = local_aws_factory(SEED)
    ids = image_ids(aws, BUILDER, "us-east-1")
    # prod's role cannot be assumed; one image vanishes between the listing and its share
    # (skipped, as AWS no longer has it); one may not be shared, another not tagged.
    aws.add_fault(
        operation="sts:AssumeRole",
        params={"RoleArn": f"arn:aws:iam::{PROD}:role/ami-share"},
        code="AccessDenied",
        message="User is not authorized to perform: sts:AssumeRole",
    )
    aws.add_fault(
        operation="ec2:ModifyImageAttribute",
        params={"ImageId": ids["app-005"]},
        action="deregister",
    )
    for operation, field, name in (
        ("ec2:ModifyImageAttribute", "ImageId", "app-009"),
        ("ec2:CreateTags", "ResourceId", "app-007"),
    ):
        aws.add_fault(
            operation=operation,
            params={field: ids[name]},
            code="UnauthorizedOperation",
            message="You are not authorized to perform this operation.",
        )

    run = run_playbook(aws, fleet / "inventory.app_interface.yml")

    assert run.returncode == 2, run.output
    assert run.recap["builder"][1] == 1 and run.recap["tools"][1] == 0, run.output
    lines = sorted(failure_lines(run.output))
    assert len(lines) == 5, lines
    image_lines, prod_lines = lines[3:], lines[:3]
    assert sorted(line.split(": ", 1)[1].rsplit(": ", 1)[0] for line in image_lines) == sorted(
        [
            f"{ids['app-009']} (app-009): UnauthorizedOperation in ModifyImageAttribute",
            f"{ids['app-007']} (app-007): UnauthorizedOperation in CreateTags",
        ]
    ), image_lines
    assert all(line.startswith("builder -> stage us-east-1: ") for line in image_lines)
    assert prod_lines[0].startswith(
        "builder -> prod us-east-1: the calling identity may not assume target_role_arn "
        f"arn:aws:iam::{PROD}:role/ami-share"
    ), prod_lines
    assert prod_lines[1].startswith(
        "builder -> prod us-east-9: aws/builder/account.yml: sharing[3].region: 'us-east-9' "
        "is not an EC2 region"
    ), prod_lines
    assert prod_lines[2].startswith("builder -> prod us-west-2: the calling identity may not")
    assert "AccessDenied" in prod_lines[0] and "AccessDenied" in prod_lines[2]
    assert "app-005" in run.output and "deregistered during the run" not in lines

    # Everything else of stage is there, with its tags; the tools account was not held up.
    desired = desired_state(fleet / "data", SEED)
    stage = aws.shared_with(STAGE, "us-east-1")
    expected = dict(desired[(STAGE, "us-east-1")])
    del expected["app-005"], expected["app-009"]
    expected["app-007"] = {}
    assert stage == expected
    assert aws.shared_with(PROD, "us-east-1") == {}


def test_the_example_fleet_with_a_third_of_all_calls_throttled_ends_shared_and_tagged(
    local_aws_factory,
):
    aws = local_aws_factory(
        EXAMPLE / "local-aws-seed.yml", "--fault-rate", "0.3", "--fault-seed", "41"
    )

    run = run_playbook(aws, EXAMPLE / "inventory.app_interface.yml")

    throttled = sum(aws.control("calls")["throttled"].values())
    assert run.returncode == 0, run.output
    assert throttled > 0
    shares = assert_desired_state(aws, EXAMPLE / "data", EXAMPLE / "local-aws-seed.yml")
    print(f"example fleet: faults injected: {throttled}, shares checked: {shares}, lost: 0")


def test_a_run_killed_mid_apply_and_run_again_ends_in_exactly_the_desired_state(
    local_aws_factory,
):
    # 100 ms per call: the first share's 111 ModifyImageAttribute calls take over a second.
    aws = local_aws_factory(SEED, "--latency-ms", "100")
    playbook = start_playbook(aws, INVENTORY)
    deadline = time.monotonic() + 120
    while aws.calls().get("ec2:ModifyImageAttribute", 0) < 20:
        assert playbook.poll() is None, playbook.communicate()[0]
        assert time.monotonic() < deadline
        time.sleep(0.05)

    kill_tree(playbook)
    playbook.wait(timeout=30)
    killed_at = aws.calls().get("ec2:ModifyImageAttribute", 0)
    time.sleep(1)
    # Nothing of the killed run goes on: its workers and module processes died with it.
    assert aws.calls().get("ec2:ModifyImageAttribute", 0) == killed_at
    rerun = run_playbook(aws, INVENTORY)

    assert playbook.returncode == -signal.SIGKILL
    assert killed_at < 215, "the kill came after the apply"
    assert rerun.returncode == 0, rerun.output
    assert assert_desired_state(aws, FLEET / "data", SEED) == 215


def test_two_runs_at_once_with_a_third_of_all_calls_throttled_both_succeed_and_agree(
    local_aws_factory,
):
    aws = local_aws_factory(SEED, "--fault-rate", "0.3", "--fault-seed", "7")

    runs = [start_playbook(aws, INVENTORY) for _run in range(2)]
    outputs = [run.communicate(timeout=600)[0] for run in runs]

    for run, output in zip(runs, outputs):
        assert run.returncode == 0, output
        assert parse_recap(output).keys() == {"builder", "tools"}, output
    throttled = sum(aws.control("calls")["throttled"].values())
    assert throttled > 0
    assert assert_desired_state(aws, FLEET / "data", SEED) == 215
    print(f"215-image fleet, two runs at once: faults injected: {throttled}, lost: 0")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed_failing_run(aws) -> tuple[list[str], float]:
    """Run the fleet, expect it to fail; its failure lines and how long it took."""
    started = time.monotonic()
    run = run_playbook(aws, INVENTORY)
    elapsed = time.monotonic() - started

    assert run.returncode == 2, run.output
    lines = failure_lines(run.output)
    assert len(lines) == 3, lines
    return lines, elapsed


def test_an_unreachable_endpoint_fails_every_share_quickly_and_plainly(local_aws_factory):
    aws = local_aws_factory(SEED)
    aws.url = f"http://127.0.0.1:{closed_port()}"

    lines, elapsed = timed_failing_run(aws)

    for line in lines:
        assert ": AWS cannot be reached: check endpoint_url" in line, line
        assert "EndpointConnectionError" in line, line
    print(f"unreachable endpoint: play failed in {elapsed:.1f} s")
    assert elapsed < FAILURE_BOUND_SECONDS


def test_expired_credentials_fail_every_share_quickly_and_plainly(local_aws_factory):
    aws = local_aws_factory(SEED)
    aws.add_fault(
        operation="sts:AssumeRole",
        code="ExpiredToken",
        message="The security token included in the request is expired",
        status=400,
    )
    aws.control("calls/reset", "POST")

    lines, elapsed = timed_failing_run(aws)

    for line in lines:
        assert "the credentials of the calling identity have expired: renew them" in line, line
        assert "ExpiredToken" in line, line
    # Refused credentials are not retried: one AssumeRole per share.
    assert aws.calls() == {"sts:AssumeRole": 4}, aws.calls()
    print(f"expired credentials: play failed in {elapsed:.1f} s")
    assert elapsed < FAILURE_BOUND_SECONDS
