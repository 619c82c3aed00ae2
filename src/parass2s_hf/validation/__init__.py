"""Validate the judge against human ratings (the paper's Tables 2 and 3) and probe its failure modes.

```python
>>> from parass2s_hf.validation import build_validation, load_pairs, render_markdown
>>> data = load_pairs("ratings.csv", runs=["runs/omni", "runs/cascade"])     # or a judge_score column, no runs
>>> report = build_validation(data.pairs, source=data.source, notes=data.notes, ratings=data.ratings)
>>> report["agreement"]["columns"]["overall"]["pearson"]                       # value, 95% interval, n, reason
>>> report["inter_rater"]["ordinal"]                                           # Krippendorff's alpha between raters
>>> print(render_markdown(report))
```
On the command line: `parass2s validate-judge --ratings ratings.csv --run runs/omni [--probes ...]`; `--ratings` may
be a folder of ratings files, one per rater (what `parass2s listen` writes).
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
from .ratings import LoadedPairs, RatedPair, RunScores, load_pairs, rating_files, read_ratings, read_run, run_name
from .stats import (
    LAYOUT,
    agreement_table,
    build_validation,
    correlation,
    correlations,
    inter_rater_agreement,
    system_ranking,
)

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
    "inter_rater_agreement",
    "length_bias_probe",
    "load_pairs",
    "main",
    "position_bias_probe",
    "probe_rows",
    "rating_files",
    "read_ratings",
    "read_run",
    "render_markdown",
    "run_name",
    "run_probes",
    "style_hallucination_probe",
    "system_ranking",
    "validate_judge",
    "write_validation",
]
