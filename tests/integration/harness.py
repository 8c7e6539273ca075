"""Helpers for tests that run the real playbook against the local AWS over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "integration"
BIN = Path(sys.executable).parent
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
MUTATING = {"ec2:ModifyImageAttribute", "ec2:CreateTags", "ec2:DeleteTags"}
# What the calling identity presents; the local AWS accepts any key.
CALLER_ENV = {
    "AWS_ACCESS_KEY_ID": "itest-access-key",
    "AWS_SECRET_ACCESS_KEY": "itest-secret-key",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class LocalAws:
    """A running local AWS and ways to look at it as any account."""

    url: str

    def calls(self) -> dict[str, int]:
        """AWS calls by "service:Operation" since the last reset, counted by the server."""
        with urllib.request.urlopen(f"{self.url}/_local_aws/calls") as answer:
            return json.load(answer)["calls"]

    def reset_calls(self) -> None:
        request = urllib.request.Request(f"{self.url}/_local_aws/calls/reset", method="POST")
        urllib.request.urlopen(request).close()

    def ec2(self, uid: str, region: str):
        """An EC2 client acting as account `uid`, through AssumeRole as the product does."""
        sts = boto3.client(
            "sts",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=CALLER_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CALLER_ENV["AWS_SECRET_ACCESS_KEY"],
        )
        role = f"arn:aws:iam::{uid}:role/inspector"
        credentials = sts.assume_role(RoleArn=role, RoleSessionName="itest")["Credentials"]
        return boto3.client(
            "ec2",
            region_name=region,
            endpoint_url=self.url,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    def shared_with(self, uid: str, region: str) -> dict[str, dict[str, str]]:
        """Images the account sees as shared with it: name -> the tags it sees on them."""
        images = self.ec2(uid, region).describe_images(ExecutableUsers=["self"])["Images"]
        return {
            image["Name"]: {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
            for image in images
        }


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, tuple[int, int]]  # host -> (changed, failed + unreachable)

    @property
    def changed(self) -> int:
        return sum(counts[0] for counts in self.recap.values())


def run_playbook(
    aws: LocalAws, inventory: Path, *flags: str, env: dict[str, str] | None = None
) -> PlaybookRun:
    """Run playbooks/share_amis.yml against the local AWS with the given inventory source."""
    command = [
        BIN / "ansible-playbook",
        REPO / "playbooks" / "share_amis.yml",
        "-i",
        inventory,
        "-e",
        f"ami_share_endpoint_url={aws.url}",
        "-e",
        "ami_share_role_name=ami-share",
        *flags,
    ]
    run_env = {**os.environ, **CALLER_ENV, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}
    run = subprocess.run(
        command,
        cwd=REPO,
        env={**run_env, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    recap = {
        m[1]: (int(m[2]), int(m[3]) + int(m[4]))
        for m in map(RECAP.match, run.stdout.splitlines())
        if m
    }
    return PlaybookRun(run.returncode, run.stdout, recap)
