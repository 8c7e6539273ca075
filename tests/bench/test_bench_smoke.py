"""The benchmark's smoke run, so that scripts/bench cannot rot: a tiny fleet, our side only."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_smoke_run_meets_the_no_op_minimum_and_reports_module_memory(tmp_path):
    figures = tmp_path / "bench.json"

    run = subprocess.run(
        [sys.executable, REPO / "scripts" / "bench", "--smoke", "--json", figures],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert "every target met" in run.stdout
    (size,) = json.loads(figures.read_text())["sizes"]
    ours = size["ours"]
    # Two name families for the same target and region are one share: one module run each.
    assert size["fleet"]["families"] == 2
    assert ours["first"]["module_runs"] == size["fleet"]["targets"]
    assert ours["first"]["calls"]["ec2:ModifyImageAttribute"] == 3 * size["fleet"]["targets"]
    assert ours["rerun"]["calls"] == size["minimum_noop_calls"]
    assert ours["check"]["calls"] == size["minimum_noop_calls"]
    assert 20 < ours["first"]["peak_module_rss_mib"] < 100
