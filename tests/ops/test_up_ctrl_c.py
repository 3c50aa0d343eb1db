"""Ctrl-C in a terminal signals the whole foreground process group. ``qhana up`` must get it
alone: its embedded nats-server (and worker processes) are stopped by it, after the drain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import clean_env


@pytest.mark.parametrize("worker_processes", ["0", "1"])
def test_ctrl_c_drains_before_nats_stops(worker_processes: str, tmp_path: Path) -> None:
    env = clean_env(QHANA_LOG_FORMAT="json", QHANA_UP_WORKER_PROCESSES=worker_processes)
    with subprocess.Popen(
        [sys.executable, "-m", "qhana", "up", "--port", "0", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    ) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # ends when qhana up exits (the test then fails)
                if line.startswith("qhana ready:"):
                    break
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the whole group
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.returncode is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    # a stop closes its connections (nats.disconnected is logged then), but the server must
    # not go first: no failed withdrawal, no refused reconnects
    for symptom in ("withdraw_failed", "nats.error"):
        assert symptom not in stderr, stderr
