"""Helpers for tests that run the real playbook against the local AWS over HTTP."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "integration"
BIN = Path(sys.executable).parent
RECAP = re.compile(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)")
MUTATING = {"ec2:ModifyImageAttribute", "ec2:CreateTags", "ec2:DeleteTags"}
# The tests' own look at the local AWS rides out injected throttling like the product does.
INSPECTOR_CONFIG = Config(retries={"mode": "standard", "max_attempts": 12})
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

    def control(self, path: str, method: str = "GET", payload: Any = None) -> Any:
        """Ask one of the local AWS's private control paths (docs/local-aws.md)."""
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.url}/_local_aws/{path}", data=data, method=method)
        with urllib.request.urlopen(request) as answer:
            return json.load(answer)

    def calls(self) -> dict[str, int]:
        """AWS calls by "service:Operation" since the last reset, counted by the server."""
        return self.control("calls")["calls"]

    def add_fault(self, **rule: Any) -> None:
        """Make the local AWS fail one operation, for some parameter values (a fault rule)."""
        self.control("faults", "POST", rule)

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
            config=INSPECTOR_CONFIG,
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
            config=INSPECTOR_CONFIG,
        )

    def shared_with(self, uid: str, region: str) -> dict[str, dict[str, str]]:
        """Images the account sees as shared with it: name -> the tags it sees on them."""
        images = self.ec2(uid, region).describe_images(ExecutableUsers=["self"])["Images"]
        return {
            image["Name"]: {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}
            for image in images
        }


@contextmanager
def start_local_aws(seed: Path, *flags: str) -> Iterator[LocalAws]:
    """A local AWS seeded from `seed`, on a free port of 127.0.0.1, stopped with SIGTERM."""
    command = [sys.executable, REPO / "scripts" / "local-aws", "serve", "--port", "0"]
    server = subprocess.Popen([*command, "--seed", seed, *flags], stdout=subprocess.PIPE, text=True)
    try:
        ready = server.stdout.readline().strip()
        match = re.fullmatch(r"local-aws ready at (http://127\.0\.0\.1:\d+)", ready)
        assert match, f"local AWS did not start: {ready!r}"
        yield LocalAws(match.group(1))
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0


@dataclass
class PlaybookRun:
    returncode: int
    output: str
    recap: dict[str, tuple[int, int]]  # host -> (changed, failed + unreachable)

    @property
    def changed(self) -> int:
        return sum(counts[0] for counts in self.recap.values())


def playbook_command(
    aws: LocalAws, inventory: Path, *flags: str, env: dict[str, str] | None = None
) -> tuple[list[Any], dict[str, str]]:
    """The command line and environment of share_amis.yml against the local AWS."""
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
    return command, {**run_env, **(env or {})}


def start_playbook(
    aws: LocalAws, inventory: Path, *flags: str, env: dict[str, str] | None = None
) -> subprocess.Popen:
    """Start share_amis.yml in its own process group, so that a test can kill all of it."""
    command, run_env = playbook_command(aws, inventory, *flags, env=env)
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def descendants(pid: int) -> list[int]:
    """Every process below `pid`, read from /proc: Ansible's workers leave its process group."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # The parent PID is the second field after the parenthesised command name.
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    found, waiting = [], [pid]
    while waiting:
        for child in children.get(waiting.pop(), []):
            found.append(child)
            waiting.append(child)
    return found


def kill_tree(process: subprocess.Popen) -> None:
    """SIGKILL a process and everything it started, as a crash or an OOM kill would."""
    for pid in [process.pid, *descendants(process.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def parse_recap(output: str) -> dict[str, tuple[int, int]]:
    """host -> (changed, failed + unreachable) from the PLAY RECAP."""
    return {
        m[1]: (int(m[2]), int(m[3]) + int(m[4])) for m in map(RECAP.match, output.splitlines()) if m
    }


def run_playbook(
    aws: LocalAws, inventory: Path, *flags: str, env: dict[str, str] | None = None
) -> PlaybookRun:
    """Run playbooks/share_amis.yml against the local AWS with the given inventory source."""
    playbook = start_playbook(aws, inventory, *flags, env=env)
    try:
        output = playbook.communicate(timeout=600)[0]
    finally:
        if playbook.poll() is None:
            os.killpg(playbook.pid, signal.SIGKILL)
    return PlaybookRun(playbook.returncode, output, parse_recap(output))


def run_module(aws: LocalAws, playbook: Path, args: dict, workdir: Path, *flags: str) -> dict:
    """Run one module task through `playbook` with `args`; return the registered result."""
    result_file = workdir / "result.json"
    extra_vars = workdir / "vars.json"
    extra_vars.write_text(
        json.dumps(
            {
                "ami_share_args": {k: v for k, v in args.items() if v is not None},
                "ami_share_result_file": str(result_file),
                "ansible_python_interpreter": sys.executable,
            }
        )
    )
    env = {
        **os.environ,
        **CALLER_ENV,
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_INVENTORY_ENABLED": "host_list",
    }
    command = [BIN / "ansible-playbook", playbook, "-i", "localhost,", "-e", f"@{extra_vars}"]
    run = subprocess.run(
        [*command, *flags],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return json.loads(result_file.read_text())
