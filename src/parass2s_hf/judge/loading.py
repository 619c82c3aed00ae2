"""`evaluate.load("parass2s_judge")` from any folder after `import parass2s_hf`.

evaluate 0.4 resolves a bare name on the Hub only; this wraps `evaluate.loading.evaluation_module_factory` for the
one name and points it at the module file shipped inside the package (`METRIC_PATH`), so it also works after a
plain, non-editable install. `evaluate.load("metric/parass2s_judge")` loads the repository's copy by path.
"""

from __future__ import annotations

from importlib import resources

METRIC_NAME = "parass2s_judge"
METRIC_PATH = str(resources.files(__package__).joinpath("evaluate_module", "parass2s_judge.py"))


def install_evaluate_hook() -> bool:
    """Install the name hook; `False` (and nothing done) when evaluate is not installed. Idempotent."""
    try:
        import evaluate.loading as el
    except ImportError:
        return False
    if getattr(el.evaluation_module_factory, "_parass2s_hook", False):
        return True
    original = el.evaluation_module_factory

    def evaluation_module_factory(path, *args, **kwargs):
        if path == METRIC_NAME:
            path = METRIC_PATH
        return original(path, *args, **kwargs)

    evaluation_module_factory._parass2s_hook = True
    evaluation_module_factory.__wrapped__ = original
    el.evaluation_module_factory = evaluation_module_factory
    return True
