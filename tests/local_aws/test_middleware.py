"""The call counter, throttling faults and latency that wrap moto's app."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from local_aws_support import SOURCE_UID
from local_aws_support import Account
from local_aws_support import error_code
from local_aws_support import local_aws


def counters(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_local_aws/calls") as answer:
        return json.load(answer)


def reset(url: str) -> None:
    request = urllib.request.Request(f"{url}/_local_aws/calls/reset", method="POST")
    with urllib.request.urlopen(request) as answer:
        assert json.load(answer) == {"reset": True}


def test_call_counter_counts_calls_by_service_and_operation() -> None:
    with local_aws() as running:
        account = Account(running.url, SOURCE_UID)
        reset(running.url)
        account.ec2.describe_images(Owners=["self"])
        account.ec2.describe_images(Owners=["self"])
        account.client("sts").get_caller_identity()
        account.client("kms").list_keys()

        seen = counters(running.url)

    assert seen == {
        "calls": {
            "ec2:DescribeImages": 2,
            "kms:ListKeys": 1,
            "sts:GetCallerIdentity": 1,
        },
        "throttled": {},
    }


def test_call_counter_reset_starts_from_zero(server) -> None:
    account = Account(server.url, SOURCE_UID)
    account.ec2.describe_images(Owners=["self"])

    reset(server.url)

    assert counters(server.url) == {"calls": {}, "throttled": {}}


def test_full_fault_rate_throttles_ec2_and_sts_but_not_other_services() -> None:
    with local_aws("--fault-rate", "1") as running:
        # AssumeRole itself would be throttled, so the clients sign with plain keys.
        account = Account(running.url, SOURCE_UID, assume_role=False)
        ec2_code = error_code(account.ec2.describe_images, Owners=["self"])
        sts_code = error_code(account.client("sts").get_caller_identity)
        kms_code = error_code(account.client("kms").list_keys)
        seen = counters(running.url)

    assert (ec2_code, sts_code, kms_code) == ("RequestLimitExceeded", "Throttling", None)
    assert seen["throttled"] == {"ec2:DescribeImages": 1, "sts:GetCallerIdentity": 1}


def _throttled_pattern(*flags: str) -> list[bool]:
    with local_aws(*flags) as running:
        account = Account(running.url, SOURCE_UID, assume_role=False)
        ec2 = account.ec2
        return [
            error_code(ec2.describe_images, Owners=["self"]) == "RequestLimitExceeded"
            for _call in range(20)
        ]


def test_fault_seed_repeats_the_same_faults() -> None:
    first = _throttled_pattern("--fault-rate", "0.5", "--fault-seed", "7")
    second = _throttled_pattern("--fault-rate", "0.5", "--fault-seed", "7")

    assert first == second
    assert 0 < sum(first) < 20


def test_latency_delays_every_answer() -> None:
    with local_aws("--latency-ms", "300") as running:
        account = Account(running.url, SOURCE_UID)
        started = time.monotonic()
        account.ec2.describe_images(Owners=["self"])
        elapsed = time.monotonic() - started

    assert elapsed >= 0.3
