"""``qhana bench``: the platform's benchmark (a fresh stack, bounded loads, one report)."""

from qhana.bench.run import QUICK, BenchConfig, run_bench

__all__ = ["QUICK", "BenchConfig", "run_bench"]
