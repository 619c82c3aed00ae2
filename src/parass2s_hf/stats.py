"""Statistics shared by the evaluation report and the judge validation: bootstrap intervals and Markdown tables.

```python
>>> import numpy as np
>>> from parass2s_hf.stats import bootstrap_interval, markdown_table
>>> scores = np.array([1.0, 2, 2, 3, 4, 4, 5, 5])
>>> result = bootstrap_interval((scores,), lambda x: x.mean(axis=-1), n_resamples=999)
>>> low, high = result.ci
>>> low < 3.25 < high, result.reason  # 3.25: the mean
(True, None)
>>> bootstrap_interval((np.full(4, 3.0),), lambda x: x.mean(axis=-1))
BootstrapInterval(ci=(3.0, 3.0), reason=None, constant=True, undefined=0, resamples=0)
>>> markdown_table(["system", "score"], [["a|b", 3.5]])
['| system | score |', '|---|---|', '| a\\\\|b | 3.5 |']

```

How an interval is made (`scipy.stats.bootstrap`, fixed seed: the same data give the same interval):
- each array of `data` is resampled on its own (`paired=False`); to keep values paired (a human and a judge score),
  resample indices and index the values inside the statistic;
- `"BCa"` is NaN (or raises) where it is undefined, e.g. on a degenerate jackknife: the percentile interval is given
  instead;
- constant data (every array constant) are not resampled: every resample is the data itself, so the interval is the
  statistic's value, of zero width, flagged `constant`;
- where some resamples have no value (NaN: e.g. a correlation of a resample with constant scores), scipy's interval is
  NaN; the percentile interval over the others is given when the undefined ones are at most `max_undefined` of
  all, else none;
- no interval (and a reason) with `n_resamples=0` or an array of fewer than 2 values.

Only numpy and scipy: no other module of the package.
"""

from __future__ import annotations

import inspect
import math
import re
import warnings
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["METHODS", "BootstrapInterval", "bootstrap_interval", "markdown_table", "seed_argument"]

METHODS = ("percentile", "BCa", "basic")
"""`scipy.stats.bootstrap`'s interval methods."""

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class BootstrapInterval(NamedTuple):
    """What `bootstrap_interval` found.

    Args:
        ci (`tuple[float, float]`, *optional*): the interval's `(low, high)`, unrounded; `None` where there is none.
        reason (`str`, *optional*): why `ci` is `None`.
        constant (`bool`): the data were constant, so `ci` is the statistic's value twice (nothing was resampled).
        undefined (`int`): resamples whose statistic had no value; left out of `ci` where it is given.
        resamples (`int`): the resamples drawn (`0` where none were).
    """

    ci: tuple[float, float] | None
    reason: str | None = None
    constant: bool = False
    undefined: int = 0
    resamples: int = 0


def seed_argument(seed: int, *, legacy_stream: bool = False) -> dict:
    """The seed of `scipy.stats.bootstrap` as a keyword argument, for the installed scipy.

    scipy 1.15 renamed `random_state` to `rng`, and the two names draw different streams from one seed: `rng=` passes
    the value through `np.random.default_rng`, while `random_state=seed` seeds a legacy `np.random.RandomState`.

    Args:
        seed (`int`): the seed.
        legacy_stream (`bool`, *optional*, defaults to `False`): draw from `np.random.RandomState(seed)`, scipy's stream
            for `random_state=seed` (the evaluation report's since its first version: kept so that its numbers do not
            change); only `random_state=` takes it (`rng=` would turn it into another stream), a name scipy 1.15 and
            later still accept.

    Returns:
        `dict`: `{"rng": np.random.default_rng(seed)}` where scipy has `rng`, `{"random_state": ...}` before it (the
        same stream under both), or `{"random_state": np.random.RandomState(seed)}` with `legacy_stream`.
    """
    from scipy.stats import bootstrap

    if legacy_stream:
        return {"random_state": np.random.RandomState(seed)}
    name = "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"
    return {name: np.random.default_rng(seed)}


def bootstrap_interval(data: Sequence, statistic: Callable, *, confidence: float = 0.95, n_resamples: int = 2000,
                       seed: int = 0, method: str = "percentile", legacy_stream: bool = False,
                       max_undefined: float = 0.0) -> BootstrapInterval:
    """A bootstrap confidence interval of `statistic(*data)`, each array of `data` resampled on its own.

    Args:
        data (`Sequence[np.ndarray]`): 1-D arrays, one per independently resampled group.
        statistic (`Callable`): maps arrays of shape `(..., n_i)`, one per group, to values of shape `(...)` (vectorised
            along the last axis, as `scipy.stats.bootstrap` calls it); NaN where it has no value.
        confidence (`float`, *optional*, defaults to `0.95`): the confidence level.
        n_resamples (`int`, *optional*, defaults to `2000`): resamples; `0` gives no interval.
        seed (`int`, *optional*, defaults to `0`): the seed; a new generator per try, so the percentile fallback
            draws the same resamples as BCa did.
        method (`str`, *optional*, defaults to `"percentile"`): `"percentile"`, `"BCa"` or `"basic"`; where it gives
            no interval, the percentile interval is tried.
        legacy_stream (`bool`, *optional*, defaults to `False`): draw from `np.random.RandomState(seed)` (see
            `seed_argument`).
        max_undefined (`float`, *optional*, defaults to `0.0`): the largest share of resamples without a value that
            the interval may leave out.

    Returns:
        `BootstrapInterval`: the interval (`None` with a reason where there is none), whether the data were constant,
        and how many resamples had no value.
    """
    from scipy.stats import bootstrap

    if n_resamples <= 0:
        return BootstrapInterval(None, "no bootstrap (n_resamples=0)")
    data = tuple(np.asarray(x) for x in data)
    if not data or any(len(x) < 2 for x in data):
        return BootstrapInterval(None, "fewer than 2 units in a resampled group")
    if all(np.ptp(x) == 0 for x in data):  # every resample is the data itself
        value = float(statistic(*data))
        return BootstrapInterval((value, value), constant=True)

    def vectorized(*xs, axis=-1):
        return statistic(*xs)

    res = None
    for m in dict.fromkeys((method, "percentile")):
        seeded = seed_argument(seed, legacy_stream=legacy_stream)  # fresh: each method draws the same resamples
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                res = bootstrap(data, vectorized, n_resamples=n_resamples, confidence_level=confidence, method=m,
                                vectorized=True, paired=False, axis=-1, **seeded)
            except ValueError:  # e.g. BCa on a degenerate jackknife: try the percentile interval
                continue
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if math.isfinite(low) and math.isfinite(high):
            return BootstrapInterval((low, high), resamples=n_resamples)
    if res is None:
        return BootstrapInterval(None, "interval undefined: the bootstrap failed on these values")
    dist = np.asarray(res.bootstrap_distribution, float).ravel()
    defined = dist[np.isfinite(dist)]
    undefined = dist.size - defined.size
    if 0 < undefined <= max_undefined * dist.size:
        alpha = (1 - confidence) / 2
        low, high = np.percentile(defined, [100 * alpha, 100 * (1 - alpha)])
        return BootstrapInterval((float(low), float(high)), undefined=undefined, resamples=dist.size)
    return BootstrapInterval(None, f"interval undefined: {undefined} of {dist.size} resamples have no value",
                             undefined=undefined, resamples=dist.size)


def markdown_table(header: Sequence, rows: Sequence[Sequence]) -> list[str]:
    """A Markdown (GitHub) table as lines: the header, the rule, one line per row.

    Args:
        header (`Sequence`): the column headers.
        rows (`Sequence[Sequence]`): the rows' cells, any values (written with `str`).

    Returns:
        `list[str]`: the table's lines. A `|` in a cell is escaped and a line break becomes a space: either would
        break the table's columns.
    """
    def line(cells):
        return "| " + " | ".join(_LINE_BREAK.sub(" ", str(c)).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header)] + [line(row) for row in rows]
