"""Evaluate a speech-to-speech system on ParaS2SBench: a resumable runner, the paper's Table-4 report, leaderboards;
two runs judged pairwise (`VersusRunner`) and a Bradley-Terry leaderboard of such comparisons."""

from .config import EvaluationConfig
from .leaderboard import compare_runs
from .pairwise_board import pairwise_leaderboard
from .records import STATUSES, SUBSETS, ItemRecord
from .report import build_report, write_report
from .runner import EvaluationRunner
from .versus import VersusConfig, VersusRunner

__all__ = ["STATUSES", "SUBSETS", "EvaluationConfig", "EvaluationRunner", "ItemRecord", "VersusConfig", "VersusRunner",
           "build_report", "compare_runs", "pairwise_leaderboard", "write_report"]
