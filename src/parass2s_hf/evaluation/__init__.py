"""Evaluate a speech-to-speech system on ParaS2SBench: a resumable runner, the paper's Table-4 report, leaderboards."""

from .config import EvaluationConfig
from .records import STATUSES, SUBSETS, ItemRecord
from .runner import EvaluationRunner

__all__ = ["STATUSES", "SUBSETS", "EvaluationConfig", "EvaluationRunner", "ItemRecord"]
