"""Fixtures for tests that run the real playbook against the local AWS over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from harness import FIXTURES
from harness import LocalAws
from harness import start_local_aws


@pytest.fixture
def local_aws_factory() -> Iterator:
    """Start local AWS servers from seed files; all are stopped (SIGTERM) after the test."""
    with ExitStack() as servers:
        yield lambda seed, *flags: servers.enter_context(start_local_aws(seed, *flags))


@pytest.fixture
def fleet_aws(local_aws_factory) -> LocalAws:
    """The local AWS seeded with the integration fleet's images."""
    return local_aws_factory(FIXTURES / "fleet" / "local-aws-seed.yml")
