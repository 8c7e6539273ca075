"""No secret in any output, the session name and ExternalId of every AssumeRole, and
the calls of each account against the policies of docs/iam.md, in one -vvvv run."""

from __future__ import annotations

import hashlib
import json
import re
import secrets

import pytest
from harness import FIXTURES
from harness import REPO
from harness import run_playbook
from harness import start_local_aws

FLEET = FIXTURES / "reliability"
INVENTORY = FLEET / "inventory.app_interface.yml"
SEED = FLEET / "local-aws-seed.yml"
SOURCES = {"100000000001": 3, "400000000004": 1}  # uid -> number of shares
TARGETS = {"200000000002", "000000000003"}
# Plain keys act as moto's default account, which no file of the fleet uses.
AUTOMATION = "123456789012"
# The forms of the credentials the local AWS hands out for an assumed role.
ASSUMED_KEY = re.compile(r"ASIA[0-9A-Z]{16}")
ASSUMED_TOKEN_PREFIX = "FQoGZXIvYXdzE"
POLICY = re.compile(r"<!-- policy: (\w+) -->\n```json\n(.*?)```", re.S)


def policies() -> dict[str, dict]:
    """The JSON policies of docs/iam.md by their marker name."""
    text = (REPO / "docs" / "iam.md").read_text()
    return {name: json.loads(body) for name, body in POLICY.findall(text)}


def allowed_actions(policy: dict) -> set[str]:
    actions = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        named = statement["Action"]
        actions.update([named] if isinstance(named, str) else named)
    return actions


@pytest.fixture(scope="module")
def verbose_run(tmp_path_factory):
    """The fleet shared once with -vvvv --diff, a log file and long random fake secrets."""
    work = tmp_path_factory.mktemp("security")
    fake = {
        "AWS_ACCESS_KEY_ID": "AKIDFAKE" + secrets.token_hex(16).upper(),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(40),
        "AWS_SESSION_TOKEN": secrets.token_urlsafe(160),
    }
    external_id = "ext-" + secrets.token_hex(24)
    extra_vars = work / "vars.json"
    extra_vars.write_text(json.dumps({"ami_share_external_id": external_id}))
    log = work / "ansible.log"

    with start_local_aws(SEED) as aws:
        run = run_playbook(
            aws,
            INVENTORY,
            "-vvvv",
            "--diff",
            "-e",
            f"@{extra_vars}",
            env={**fake, "ANSIBLE_LOG_PATH": str(log)},
        )
        by_account = aws.control("calls/by-account")["accounts"]
        assume_role = aws.control("assume-role")["requests"]
    return {
        "run": run,
        "log": log.read_text(),
        "secrets": {**fake, "external id": external_id},
        "by_account": by_account,
        "assume_role": assume_role,
    }


def test_the_verbose_run_succeeds(verbose_run):
    assert verbose_run["run"].returncode == 0, verbose_run["run"].output
    assert "ESTABLISH LOCAL CONNECTION" in verbose_run["run"].output  # really -vvvv


@pytest.mark.parametrize(
    "secret", ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "external id"]
)
def test_no_secret_appears_in_the_output_or_the_log_at_vvvv(verbose_run, secret):
    value = verbose_run["secrets"][secret]

    for place in (verbose_run["run"].output, verbose_run["log"]):
        assert value not in place
        # Not even a recognisable part of it.
        assert value[8:24] not in place


def test_no_assumed_role_credentials_appear_in_the_output_or_the_log(verbose_run):
    for place in (verbose_run["run"].output, verbose_run["log"]):
        assert not ASSUMED_KEY.search(place)
        assert ASSUMED_TOKEN_PREFIX not in place


def test_every_assume_role_names_the_product_and_the_source_and_passes_the_external_id(
    verbose_run,
):
    digest = hashlib.sha256(verbose_run["secrets"]["external id"].encode()).hexdigest()
    requests = verbose_run["assume_role"]

    # Each share assumes the source role and the target role once.
    assert len(requests) == 2 * sum(SOURCES.values())
    for request in requests:
        assert request["external_id_sha256"] == digest
        assert request["role_arn"].endswith(":role/ami-share")
        assert request["role_session_name"] in {f"resource-sharing-aws-{uid}" for uid in SOURCES}
    sessions_of_tools = {
        r["role_arn"] for r in requests if r["role_session_name"].endswith("400000000004")
    }
    assert sessions_of_tools == {
        "arn:aws:iam::400000000004:role/ami-share",
        "arn:aws:iam::200000000002:role/ami-share",
    }


def test_each_account_makes_exactly_the_calls_its_policy_allows(verbose_run):
    documented = policies()
    calls = verbose_run["by_account"]
    used = {uid: set(operations) for uid, operations in calls.items()}

    assert set(used) == {AUTOMATION, *SOURCES, *TARGETS}
    assert used[AUTOMATION] == allowed_actions(documented["automation"])
    assert set().union(*(used[uid] for uid in SOURCES)) == allowed_actions(documented["source"])
    assert set().union(*(used[uid] for uid in TARGETS)) == allowed_actions(documented["target"])
    for uid in SOURCES:
        assert used[uid] <= allowed_actions(documented["source"])
    for uid in TARGETS:
        assert used[uid] <= allowed_actions(documented["target"])


def test_mutating_actions_are_scoped_to_images_and_trust_needs_the_external_id():
    documented = policies()
    for name in ("source", "target"):
        for statement in documented[name]["Statement"]:
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            if {"ec2:ModifyImageAttribute", "ec2:CreateTags"} & set(actions):
                assert statement["Resource"] == "arn:aws:ec2:*::image/*", statement
    (trust,) = documented["trust"]["Statement"]
    assert trust["Action"] == "sts:AssumeRole"
    assert "sts:ExternalId" in trust["Condition"]["StringEquals"]
    assert trust["Condition"]["StringLike"]["sts:RoleSessionName"] == "resource-sharing-aws-*"
