"""The playbook run the way AWX runs a job: ansible-runner over a private data directory.

AWX writes a private data directory for each job: the project checked out under project/, the
inventory under inventory/, extra variables in env/extravars and the credentials' environment
variables in env/envvars; it then starts ansible-runner there and keeps the run's artifacts.
These tests build that directory from tests/fixtures/awx/ and run ansible_runner.run on it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import ansible_runner
import pytest
import yaml
from harness import BIN
from harness import CALLER_ENV
from harness import REPO

AWX = REPO / "tests" / "fixtures" / "awx"
EAST, WEST = "100000000011", "100000000012"
STAGE, PROD = "200000000022", "300000000033"


@pytest.fixture
def awx_aws(local_aws_factory, monkeypatch):
    """The local AWS seeded with the images of the AWX project fixture.

    Also puts this virtualenv's ansible-playbook first on PATH, where ansible-runner looks for it,
    as it is in an execution environment.
    """
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    return local_aws_factory(AWX / "local-aws-seed.yml")


def private_data_dir(root: Path, endpoint: str, report: Path) -> Path:
    """A private data directory as AWX writes it for a job of the share_amis job template."""
    shutil.copytree(AWX / "project", root / "project")
    (root / "inventory").mkdir()
    (root / "inventory" / "ami-share.app_interface.yml").write_text(
        "plugin: resource_sharing.aws.app_interface\ndata_dir: ../project/data\n"
    )
    (root / "env").mkdir()
    extravars = {
        "ami_share_role_name": "ami-share",
        "ami_share_endpoint_url": endpoint,
        "ami_share_report_file": str(report),
    }
    (root / "env" / "extravars").write_text(yaml.safe_dump(extravars))
    # What an AWS credential injects, plus the collection: in AWX it is in the execution
    # environment or installed from the project's collections/requirements.yml.
    envvars = {
        **CALLER_ENV,
        "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build" / "collections"),
    }
    (root / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    return root


def run_job(root: Path, *cmdline: str):
    """Run the job as AWX would, with the given ansible-playbook options (the job type)."""
    return ansible_runner.run(
        private_data_dir=str(root),
        playbook="share_amis.yml",
        cmdline=" ".join(cmdline) or None,
        quiet=True,
        timeout=300,
    )


def artifacts(runner) -> dict:
    """The data the playbook published with set_stats, as AWX stores it for the job."""
    (stats,) = [event for event in runner.events if event["event"] == "playbook_on_stats"]
    return stats["event_data"]["artifact_data"]


def by_share(rows: list[dict]) -> dict[tuple[str, str, str], dict]:
    return {(row["source"], row["target"], row["region"]): row for row in rows}


def test_job_prints_each_share_and_publishes_all_accounts_shares_as_one_artifact(awx_aws, tmp_path):
    report = tmp_path / "ami-share-report.json"
    root = private_data_dir(tmp_path / "job", awx_aws.url, report)

    runner = run_job(root)

    output = runner.stdout.read()
    assert runner.status == "successful", output
    assert runner.rc == 0
    for line in (
        "builder-east -> stage us-east-1: shared 2, tagged 2, skipped 0",
        "builder-east -> prod us-east-1: shared 2, tagged 2, skipped 0",
        "builder-west -> prod us-west-2: shared 1, tagged 1, skipped 1",
    ):
        assert output.count(line) == 1, output
    # The first share of both accounts is one included run for both hosts: they run at once.
    # Ansible names the hosts in the order their results came in, which varies from run to run.
    assert re.search(
        r"share\.yml for (builder-east, builder-west|builder-west, builder-east)\b", output
    ), output
    summary = artifacts(runner)["ami_share_summary"]
    assert len(summary) == 3
    rows = by_share(summary)
    assert rows["builder-east", "stage", "us-east-1"] == {
        "source": "builder-east",
        "target": "stage",
        "region": "us-east-1",
        "regexes": ["^app-"],
        "shared": 2,
        "tagged": 2,
        "skipped": 0,
        "failed": 0,
        "tags_not_copied": False,
        "check_mode": False,
        "errors": [],
    }
    assert rows["builder-east", "prod", "us-east-1"]["shared"] == 2
    west = rows["builder-west", "prod", "us-west-2"]
    assert (west["shared"], west["tagged"], west["skipped"]) == (1, 1, 1)
    # The JSON report holds the same rows, written once for the whole play (in play order;
    # set_stats aggregates in the order the hosts finish).
    assert by_share(json.loads(report.read_text())) == rows
    assert set(awx_aws.shared_with(PROD, "us-west-2")) == {"tool-1"}
    assert set(awx_aws.shared_with(STAGE, "us-east-1")) == {"app-1", "app-2"}


def test_check_job_publishes_the_plan_writes_the_report_and_shares_nothing(awx_aws, tmp_path):
    report = tmp_path / "ami-share-report.json"
    root = private_data_dir(tmp_path / "job", awx_aws.url, report)

    runner = run_job(root, "--check", "--diff")

    assert runner.status == "successful", runner.stdout.read()
    rows = by_share(artifacts(runner)["ami_share_summary"])
    assert {row["shared"] for row in rows.values()} == {2, 1}
    assert all(row["check_mode"] for row in rows.values())
    assert by_share(json.loads(report.read_text())) == rows
    assert awx_aws.shared_with(PROD, "us-west-2") == {}
    assert awx_aws.shared_with(STAGE, "us-east-1") == {}
