"""Helpers for tests of the local AWS: run scripts/local-aws, act as accounts through AssumeRole.

A module of its own name, not conftest, so that test files import it unambiguously
when several test folders with a conftest.py are collected together.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "scripts" / "local-aws"
FIXTURES = REPO / "tests" / "fixtures" / "local_aws"
SEED = FIXTURES / "seed.yml"
READY_PREFIX = "local-aws ready at "
READY_TIMEOUT = 20.0

SOURCE_UID = "111111111111"
TARGET_UID = "222222222222"
THIRD_UID = "333333333333"
REGION = "us-east-1"

# No retries: a test that provokes an error sees it on the first answer.
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


@dataclass
class RunningServer:
    """A local-aws subprocess that printed its ready line."""

    process: subprocess.Popen[str]
    url: str
    started_in: float


def _read_ready_line(process: subprocess.Popen[str]) -> str:
    """The first stdout line, or a failure naming what the server said instead."""
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(READY_TIMEOUT)
    if not lines or not lines[0].startswith(READY_PREFIX):
        process.kill()
        stderr = process.communicate()[1]
        pytest.fail(f"local-aws did not get ready: stdout={lines!r} stderr={stderr!r}")
    return lines[0].strip()


def server_environment() -> dict[str, str]:
    """The environment a server runs in: no metadata calls, no fixed moto account."""
    environment = dict(os.environ, AWS_EC2_METADATA_DISABLED="true")
    environment.pop("MOTO_ACCOUNT_ID", None)
    return environment


@contextmanager
def local_aws(*arguments: str) -> Iterator[RunningServer]:
    """Run ``local-aws serve --port 0 ARGUMENTS``; stop it with SIGTERM and expect exit 0."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "serve", "--port", "0", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_environment(),
    )
    ready_line = _read_ready_line(process)
    server = RunningServer(
        process=process,
        url=ready_line[len(READY_PREFIX) :],
        started_in=time.monotonic() - started,
    )
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("local-aws did not stop within 15 s of SIGTERM")
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""  # type: ignore[union-attr]


class Account:
    """Clients that act as one account, through sts:AssumeRole on the local server."""

    def __init__(self, url: str, uid: str, region: str = REGION, assume_role: bool = True) -> None:
        self.url = url
        self.uid = uid
        self.region = region
        # Without AssumeRole the clients sign with the caller's plain keys, which
        # moto maps to its default account; tests of STS faults need that.
        self.credentials = {
            "AccessKeyId": "local-aws-test",
            "SecretAccessKey": "local-aws-test",
            "SessionToken": "",
        }
        if assume_role:
            self.credentials = self.client("sts").assume_role(
                RoleArn=f"arn:aws:iam::{uid}:role/ami-share",
                RoleSessionName="local-aws-tests",
                ExternalId="local-aws-external-id",
            )["Credentials"]

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client of the service, signed with this account's role credentials."""
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region or self.region,
            aws_access_key_id=self.credentials["AccessKeyId"],
            aws_secret_access_key=self.credentials["SecretAccessKey"],
            aws_session_token=self.credentials["SessionToken"] or None,
            config=NO_RETRIES,
        )

    @property
    def ec2(self) -> Any:
        return self.client("ec2")


def error_code(call: Any, **arguments: Any) -> str | None:
    """The AWS error code a call answers with, or None when it succeeds."""
    try:
        call(**arguments)
    except ClientError as error:
        return error.response["Error"]["Code"]
    return None
