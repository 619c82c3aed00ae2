"""Validate the judge against human ratings (the paper's Tables 2 and 3) and probe its failure modes.

```python
>>> from parass2s_hf.validation import build_validation, load_pairs, render_markdown
>>> data = load_pairs("ratings.csv", runs=["runs/omni", "runs/cascade"])     # or a judge_score column, no runs
>>> report = build_validation(data.pairs, source=data.source, notes=data.notes)
>>> report["agreement"]["columns"]["overall"]["pearson"]                       # value, 95% interval, n, reason
>>> print(render_markdown(report))
```
On the command line: `parass2s validate-judge --ratings ratings.csv --run runs/omni [--probes ...]`.
"""

from .cli import main, render_markdown, validate_judge, write_validation
from .probes import (
    PROBES,
    length_bias_probe,
    position_bias_probe,
    probe_rows,
    run_probes,
    style_hallucination_probe,
)
from .ratings import LoadedPairs, RatedPair, RunScores, load_pairs, read_ratings, read_run
from .stats import LAYOUT, agreement_table, build_validation, correlation, correlations, system_ranking

__all__ = [
    "LAYOUT",
    "PROBES",
    "LoadedPairs",
    "RatedPair",
    "RunScores",
    "agreement_table",
    "build_validation",
    "correlation",
    "correlations",
    "length_bias_probe",
    "load_pairs",
    "main",
    "position_bias_probe",
    "probe_rows",
    "read_ratings",
    "read_run",
    "render_markdown",
    "run_probes",
    "style_hallucination_probe",
    "system_ranking",
    "validate_judge",
    "write_validation",
]
