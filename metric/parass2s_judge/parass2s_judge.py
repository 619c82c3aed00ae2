"""The ParaS2S judge (arXiv 2511.08723) as an `evaluate` metric: the module `evaluate.load("parass2s_judge")` imports.

The metric is implemented in `parass2s_hf.judge.metric`; this module gives it evaluate's module layout: the module's
descriptions, and the class defined here with its examples as docstring, which evaluate's doctest runs.
"""

import evaluate

from parass2s_hf.judge import metric

_CITATION = metric._CITATION
_DESCRIPTION = metric._DESCRIPTION
_KWARGS_DESCRIPTION = metric._KWARGS_DESCRIPTION


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Parass2sJudge(metric.Parass2sJudge):
    """The ParaS2S judge; `config_name` is the mode, other keyword arguments are `JudgeConfig` fields."""
