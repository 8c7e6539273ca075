"""The serve command: ready line, loopback only, clean stop, refusals with exit 2."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from local_aws_support import LAUNCHER
from local_aws_support import SOURCE_UID
from local_aws_support import Account
from local_aws_support import local_aws
from local_aws_support import server_environment


def run_serve(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run a serve command that is expected to refuse and exit by itself."""
    return subprocess.run(
        [sys.executable, str(LAUNCHER), "serve", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env=server_environment(),
        check=False,
    )


def test_ready_line_names_the_port_that_port_zero_picked() -> None:
    with local_aws() as running:
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)", running.url)
        assert match
        assert int(match.group(1)) > 0
        # The named port answers AWS calls.
        identity = Account(running.url, SOURCE_UID).client("sts").get_caller_identity()
        assert identity["Account"] == SOURCE_UID


def test_server_starts_within_ten_seconds(server) -> None:
    assert server.started_in < 10


def test_ready_line_is_the_only_output_and_sigint_stops_with_exit_zero() -> None:
    process = subprocess.Popen(
        [sys.executable, str(LAUNCHER), "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=server_environment(),
    )
    ready = process.stdout.readline()  # type: ignore[union-attr]
    url = ready.strip().removeprefix("local-aws ready at ")
    Account(url, SOURCE_UID).ec2.describe_images(Owners=["self"])

    process.send_signal(signal.SIGINT)
    stdout = process.communicate(timeout=15)[0]

    assert ready.startswith("local-aws ready at http://127.0.0.1:")
    assert stdout == ""
    assert process.returncode == 0


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10", "example.invalid", "::"])
def test_a_host_that_is_not_loopback_is_refused(host: str) -> None:
    refused = run_serve("--host", host, "--port", "0")

    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "only loopback addresses" in refused.stderr


def test_a_seed_that_does_not_load_is_refused(tmp_path: Path) -> None:
    seed = tmp_path / "bad.yml"
    seed.write_text("accounts:\n  - uid: 111111111111\n", encoding="utf-8")

    refused = run_serve("--port", "0", "--seed", str(seed))

    assert refused.returncode == 2
    assert "quoted 12-digit account ID" in refused.stderr


def test_a_seed_with_an_unknown_region_is_refused(tmp_path: Path) -> None:
    seed = tmp_path / "mars.yml"
    seed.write_text(
        'accounts:\n  - uid: "111111111111"\n    regions:\n      mars-1:\n'
        "        images: [{name: x}]\n",
        encoding="utf-8",
    )

    refused = run_serve("--port", "0", "--seed", str(seed))

    assert refused.returncode == 2
    assert "'mars-1' is not an EC2 region" in refused.stderr


def test_a_missing_seed_file_is_refused(tmp_path: Path) -> None:
    refused = run_serve("--port", "0", "--seed", str(tmp_path / "absent.yml"))

    assert refused.returncode == 2
    assert "cannot load seed" in refused.stderr


def test_unknown_control_path_answers_404(server) -> None:
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(f"{server.url}/_local_aws/nothing-here")
    assert raised.value.code == 404


def test_launcher_runs_from_another_directory(tmp_path: Path) -> None:
    started = time.monotonic()
    refused = subprocess.run(
        [sys.executable, str(LAUNCHER), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=server_environment(),
        check=False,
    )

    assert refused.returncode == 0
    assert "serve" in refused.stdout
    assert time.monotonic() - started < 30


def test_a_port_above_65535_is_refused() -> None:
    refused = run_serve("--port", "70000")

    assert refused.returncode == 2
    assert refused.stdout == ""
    assert "must be 65535 or less" in refused.stderr


def test_a_port_in_use_is_refused_with_exit_two() -> None:
    with socket.socket() as occupant:
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]

        refused = run_serve("--port", str(port))

    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr == f"local-aws: port {port} on 127.0.0.1 is in use\n"


def test_localhost_ready_line_names_the_address_bound() -> None:
    with local_aws("--host", "localhost") as running:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", running.url)
        identity = Account(running.url, SOURCE_UID).client("sts").get_caller_identity()
        assert identity["Account"] == SOURCE_UID


def test_a_seed_that_is_not_utf8_is_refused_with_exit_two(tmp_path: Path) -> None:
    seed = tmp_path / "latin1.yml"
    seed.write_bytes('accounts:\n  - uid: "111111111111"  # caf\xe9\n'.encode("latin-1"))

    refused = run_serve("--port", "0", "--seed", str(seed))

    assert refused.returncode == 2
    assert "not UTF-8 text" in refused.stderr
    assert "Traceback" not in refused.stderr
