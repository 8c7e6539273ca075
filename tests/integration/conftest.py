"""Fixtures for tests that run the real playbook against the local AWS over HTTP."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import FIXTURES
from harness import REPO
from harness import LocalAws


@pytest.fixture
def local_aws_factory() -> Iterator:
    """Start local AWS servers from seed files; all are stopped (SIGTERM) after the test."""
    servers: list[subprocess.Popen] = []

    def start(seed: Path, *flags: str) -> LocalAws:
        command = [sys.executable, REPO / "scripts" / "local-aws", "serve", "--port", "0"]
        server = subprocess.Popen(
            [*command, "--seed", seed, *flags], stdout=subprocess.PIPE, text=True
        )
        servers.append(server)
        ready = server.stdout.readline().strip()
        match = re.fullmatch(r"local-aws ready at (http://127\.0\.0\.1:\d+)", ready)
        assert match, f"local AWS did not start: {ready!r}"
        return LocalAws(match.group(1))

    yield start
    for server in servers:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0


@pytest.fixture
def fleet_aws(local_aws_factory) -> LocalAws:
    """The local AWS seeded with the integration fleet's images."""
    return local_aws_factory(FIXTURES / "fleet" / "local-aws-seed.yml")
