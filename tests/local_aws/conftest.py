"""Fixtures: one seeded local AWS for the session, and three accounts acting in it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from local_aws_support import SEED
from local_aws_support import SOURCE_UID
from local_aws_support import TARGET_UID
from local_aws_support import THIRD_UID
from local_aws_support import Account
from local_aws_support import RunningServer
from local_aws_support import local_aws


@pytest.fixture(scope="session")
def server() -> Iterator[RunningServer]:
    """One seeded server for the whole session; tests that change images make their own."""
    with local_aws("--seed", str(SEED)) as running:
        yield running


@pytest.fixture(scope="session")
def source(server: RunningServer) -> Account:
    return Account(server.url, SOURCE_UID)


@pytest.fixture(scope="session")
def target(server: RunningServer) -> Account:
    return Account(server.url, TARGET_UID)


@pytest.fixture(scope="session")
def third(server: RunningServer) -> Account:
    return Account(server.url, THIRD_UID)


@pytest.fixture
def new_image(source: Account) -> str:
    """A fresh image of the source account, private and untagged, for a test to change."""
    return source.ec2.register_image(Name=f"fresh-{time.time_ns()}")["ImageId"]
