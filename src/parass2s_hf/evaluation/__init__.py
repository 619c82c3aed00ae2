"""Evaluate a speech-to-speech system on ParaS2SBench: a resumable runner, the paper's Table-4 report, leaderboards."""

from .config import EvaluationConfig
from .leaderboard import compare_runs
from .records import STATUSES, SUBSETS, ItemRecord
from .report import build_report, write_report
from .runner import EvaluationRunner

__all__ = ["STATUSES", "SUBSETS", "EvaluationConfig", "EvaluationRunner", "ItemRecord", "build_report", "compare_runs",
           "write_report"]
