"""The module `evaluate.load("parass2s_judge")` imports: the metric lives in `parass2s_hf.judge.metric`."""

from parass2s_hf.judge.metric import Parass2sJudge  # noqa: F401
