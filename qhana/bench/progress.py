"""Progress of ``qhana bench`` on stderr: one line per phase, with what it measured.

The run takes ~40 s (``--quick``: ~20 s); without these lines it is silent until the table.
stdout keeps only the table, so ``qhana bench > table.txt`` still works.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Phase", "Progress"]


@dataclass
class Phase:
    """What a running phase reports when it ends (``outcome``: e.g. ``"6,066 tasks/s"``)."""

    outcome: str = ""


@dataclass
class Progress:
    """Numbered phase lines: ``[ 2/10] idle RSS ... 112.3 MiB (1.0 s)``."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    done: int = 0

    @contextmanager
    def phase(self, title: str) -> Iterator[Phase]:
        self.done += 1
        width = len(str(self.total))
        self.stream.write(f"[{self.done:>{width}}/{self.total}] {title} ... ")
        self.stream.flush()
        started, phase = time.perf_counter(), Phase()
        try:
            yield phase
        except BaseException as exc:
            self.stream.write(f"failed: {type(exc).__name__}\n")
            self.stream.flush()
            raise
        elapsed = time.perf_counter() - started
        outcome = f"{phase.outcome} " if phase.outcome else ""
        self.stream.write(f"{outcome}({elapsed:.1f} s)\n")
        self.stream.flush()
