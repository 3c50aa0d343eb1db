"""The recorder role: task events -> SQL."""

from qhana.recorder.service import Recorder, run_recorder

__all__ = ["Recorder", "run_recorder"]
