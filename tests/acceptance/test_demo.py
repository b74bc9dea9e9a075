"""`receiver demo`, as a newcomer runs it: a real process, no keys, no network."""

from __future__ import annotations

import os
import re
import shutil
import subprocess


def test_the_demo_completes_four_tasks_and_verifies_every_event() -> None:
    executable = shutil.which("receiver")
    assert executable, "the `receiver` command is installed by `pip install -e .`"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    run = subprocess.run(
        [executable, "demo", "A red bicycle against a blue wall"],
        capture_output=True,
        text=True,
        env={**env, "COLUMNS": "120"},
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "4 of 4 tasks completed" in out
    verified = re.search(r"(\d+) of (\d+) webhook events verified", out)
    assert verified and verified.group(1) == verified.group(2) and int(verified.group(1)) >= 8
    for provider in ("apimall", "apipod", "dreamcore", "revidapi"):
        assert re.search(rf"{provider}\s.*completed", out)
    assert "task.completed" in out and "signature verified" in out
    assert "INVALID" not in out
