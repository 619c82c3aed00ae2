"""The ParaS2S judge: `ParaS2SJudge(JudgeConfig(...)).score(items)` (absolute) and `.compare(pairs)` (pairwise), and
the `evaluate` metric `parass2s_judge`."""

from .config import MODES, JudgeConfig
from .items import JudgeItem, JudgeResult
from .judge import ParaS2SJudge
from .loading import METRIC_PATH, install_evaluate_hook
from .pairwise import PairItem, PairResult
from .parsing import JudgeParseError, parse_judgement
from .preference import parse_preference

__all__ = ["METRIC_PATH", "MODES", "JudgeConfig", "JudgeItem", "JudgeParseError", "JudgeResult", "PairItem", "PairResult",
           "ParaS2SJudge", "install_evaluate_hook", "parse_judgement", "parse_preference"]
