"""``just --list`` works and explains every recipe people expect."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = {
    "up",
    "test",
    "test-faults",
    "lint",
    "fmt",
    "bench",
    "streams",
    "db-upgrade",
    "cluster",
    "deploy-check",
}


def _just() -> str:
    local = Path(sys.executable).parent / "just"
    found = str(local) if local.is_file() else shutil.which("just")
    assert found, "just not installed (it comes with the rust-just dependency)"
    return found


def test_just_list_explains_every_recipe() -> None:
    out = subprocess.run(
        [_just(), "--list", "--unsorted"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    described: dict[str, str] = {}
    for line in out.splitlines()[1:]:
        head, _, comment = line.strip().partition("#")
        name = head.split()[0] if head.split() else ""
        described[name] = comment.strip()
    assert EXPECTED <= described.keys(), sorted(EXPECTED - described.keys())
    undocumented = sorted(name for name, comment in described.items() if not comment)
    assert not undocumented, undocumented
