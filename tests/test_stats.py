"""The shared statistics (`parass2s_hf.stats`): the bootstrap's seed under scipy's old and new argument names, the
report's legacy stream, degenerate data, BCa's fallback to percentile, undefined resamples, and the Markdown table
writer."""

import ast
import doctest
import inspect

import numpy as np
import pytest
import scipy.stats

from parass2s_hf import stats
from parass2s_hf.stats import bootstrap_interval, markdown_table, seed_argument

SCORES = np.asarray([1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5, 1, 2], float)


def mean(x):
    return x.mean(axis=-1)


def scipy_ci(data, statistic, **kwargs):
    res = scipy.stats.bootstrap(data, lambda *xs, axis=-1: statistic(*xs), n_resamples=999, method="percentile",
                                vectorized=True, paired=False, axis=-1, **kwargs)
    return res.confidence_interval.low, res.confidence_interval.high


def test_module_example_runs_and_the_module_is_core():
    assert doctest.testmod(stats).failed == 0
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(stats))):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, "stats.py is core: no other module of the package"
            imported.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
    assert "parass2s_hf" not in imported and {"numpy", "scipy"} <= imported


@pytest.mark.parametrize("params, name", [(("rng",), "rng"), (("random_state",), "random_state"),
                                          (("rng", "random_state"), "rng")])
def test_seed_argument_follows_the_installed_scipy(monkeypatch, params, name):
    """scipy >= 1.15 takes `rng`, older releases `random_state`: the name is read from `bootstrap`'s signature."""
    fake = inspect.Signature([inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=None) for p in params])
    monkeypatch.setattr(scipy.stats, "bootstrap", lambda *a, **k: None)
    scipy.stats.bootstrap.__signature__ = fake
    (key, value), = seed_argument(3).items()
    assert key == name and isinstance(value, np.random.Generator)
    assert value.integers(1000) == np.random.default_rng(3).integers(1000)
    (key, value), = seed_argument(3, legacy_stream=True).items()  # only the old name takes a RandomState
    assert key == "random_state" and isinstance(value, np.random.RandomState)


def test_default_stream_is_the_same_under_either_name():
    """`random_state=Generator` (old scipy) and `rng=Generator` (new scipy) draw the same resamples: switching names
    with the installed scipy keeps the numbers."""
    expected = scipy_ci((SCORES,), mean, random_state=np.random.default_rng(7))
    assert bootstrap_interval((SCORES,), mean, n_resamples=999, seed=7).ci == expected
    if "rng" in inspect.signature(scipy.stats.bootstrap).parameters:
        assert scipy_ci((SCORES,), mean, rng=np.random.default_rng(7)) == expected


def test_legacy_stream_is_scipys_random_state_seed():
    """The evaluation report's stream: `random_state=seed` (a `RandomState`), not `default_rng(seed)`."""
    data = (SCORES, SCORES[:7])

    def mean_of_means(x, y):
        return (mean(x) + mean(y)) / 2

    legacy = bootstrap_interval(data, mean_of_means, n_resamples=999, seed=7, legacy_stream=True)
    assert legacy.ci == scipy_ci(data, mean_of_means, random_state=7)
    assert legacy.ci != bootstrap_interval(data, mean_of_means, n_resamples=999, seed=7).ci
    assert legacy == bootstrap_interval(data, mean_of_means, n_resamples=999, seed=7, legacy_stream=True)


def test_degenerate_data(monkeypatch):
    assert bootstrap_interval((SCORES,), mean, n_resamples=0) == (None, "no bootstrap (n_resamples=0)", False, 0, 0)
    assert bootstrap_interval((SCORES, np.ones(1)), mean).reason == "fewer than 2 units in a resampled group"
    assert bootstrap_interval((), mean).ci is None

    def no_bootstrap(*args, **kwargs):
        raise AssertionError("constant data are not resampled")

    monkeypatch.setattr(scipy.stats, "bootstrap", no_bootstrap)
    constant = bootstrap_interval((np.full(5, 3.0), np.full(2, 4.0)), lambda x, y: (mean(x) + mean(y)) / 2,
                                  method="BCa")
    assert constant.ci == (3.5, 3.5) and constant.constant and constant.reason is None


def test_bca_falls_back_to_percentile_where_undefined(monkeypatch):
    n = len(SCORES)

    def full_only(x):  # NaN on BCa's jackknife (n - 1 values): its acceleration is undefined
        return np.where(x.shape[-1] == n, mean(x), np.nan)

    percentile = bootstrap_interval((SCORES,), full_only, n_resamples=999, seed=1)
    assert percentile.ci is not None
    assert bootstrap_interval((SCORES,), full_only, n_resamples=999, seed=1, method="BCa") == percentile
    # BCa that raises (scipy does on some degenerate jackknifes) falls back too
    real = scipy.stats.bootstrap

    def raising(*args, method, **kwargs):
        if method == "BCa":
            raise ValueError("degenerate")
        return real(*args, method=method, **kwargs)

    monkeypatch.setattr(scipy.stats, "bootstrap", raising)
    assert bootstrap_interval((SCORES,), mean, n_resamples=999, seed=1, method="BCa") == \
        bootstrap_interval((SCORES,), mean, n_resamples=999, seed=1)
    monkeypatch.setattr(scipy.stats, "bootstrap", lambda *a, **k: raising(*a, **{**k, "method": "BCa"}))
    assert bootstrap_interval((SCORES,), mean).reason == "interval undefined: the bootstrap failed on these values"


@pytest.mark.filterwarnings("ignore::scipy.stats.DegenerateDataWarning")  # the direct call below
def test_undefined_resamples_are_left_out_only_up_to_max_undefined():
    """A statistic without a value on some resamples (here: a constant resample) makes scipy's interval NaN; the
    percentile interval over the others is given when they miss at most `max_undefined` of all."""
    x = np.asarray([1.0, 1, 1, 1, 1, 2, 3])

    def spread(v):
        return np.where(np.ptp(v, axis=-1) == 0, np.nan, v.std(axis=-1))

    strict = bootstrap_interval((x,), spread, n_resamples=500, seed=2)
    assert strict.ci is None and 0 < strict.undefined < 500 and strict.resamples == 500
    assert strict.reason == f"interval undefined: {strict.undefined} of 500 resamples have no value"
    loose = bootstrap_interval((x,), spread, n_resamples=500, seed=2, max_undefined=0.5)
    assert loose.undefined == strict.undefined and loose.reason is None
    dist = scipy.stats.bootstrap((x,), lambda v, axis=-1: spread(v), n_resamples=500, method="percentile",
                                 vectorized=True, axis=-1, **seed_argument(2)).bootstrap_distribution
    assert loose.ci == tuple(np.percentile(dist[np.isfinite(dist)], [2.5, 97.5]))
    assert bootstrap_interval((x,), spread, n_resamples=500, seed=2, max_undefined=0.9 * strict.undefined / 500).ci \
        is None


def test_markdown_table():
    assert markdown_table(["a", "b"], [[1, None], ["x", 2.5]]) == [
        "| a | b |", "|---|---|", "| 1 | None |", "| x | 2.5 |"]
    assert markdown_table(["only"], []) == ["| only |", "|---|"]
    # a pipe or a line break would split or end the row: escaped, and a space
    assert markdown_table(["name|label", "text"], [["a|b", "two\nlines\r\nhere"]]) == [
        "| name\\|label | text |", "|---|---|", "| a\\|b | two lines here |"]
