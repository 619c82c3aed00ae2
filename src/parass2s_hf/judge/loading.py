"""`evaluate.load("parass2s_judge")` from any folder after `import parass2s_hf`.

evaluate 0.4 resolves a bare name on the Hub only; this wraps `evaluate.loading.evaluation_module_factory` for the
one name and points it at the module file shipped inside the package (`METRIC_PATH`), so it also works after a
plain, non-editable install. `evaluate.load("metric/parass2s_judge")` loads the repository's copy by path.

Importing `evaluate` costs seconds (it imports `transformers.pipelines`), so `import parass2s_hf` does not: the wrap
is applied the moment `evaluate.loading` is first imported, by a one-shot finder on `sys.meta_path`.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from importlib import resources

METRIC_NAME = "parass2s_judge"
METRIC_PATH = str(resources.files(__package__).joinpath("evaluate_module", "parass2s_judge.py"))
_TARGET = "evaluate.loading"


def _patch(el) -> None:
    if getattr(el.evaluation_module_factory, "_parass2s_hook", False):
        return
    original = el.evaluation_module_factory

    def evaluation_module_factory(path, *args, **kwargs):
        if path == METRIC_NAME:
            path = METRIC_PATH
        return original(path, *args, **kwargs)

    evaluation_module_factory._parass2s_hook = True
    evaluation_module_factory.__wrapped__ = original
    el.evaluation_module_factory = evaluation_module_factory


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Finds `evaluate.loading` with the other finders and patches the module right after it executes."""

    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _PatchOnImport)]  # one shot
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            _patch(module)

        spec.loader.exec_module = exec_and_patch  # the loader object belongs to this one file's spec
        return spec


def install_evaluate_hook() -> bool:
    """Install the name hook; `False` (and nothing done) when evaluate is not installed. Idempotent, and imports
    nothing: an `evaluate` already imported is patched now, otherwise when it first imports `evaluate.loading`."""
    if _TARGET in sys.modules:
        _patch(sys.modules[_TARGET])
        return True
    if importlib.util.find_spec("evaluate") is None:
        return False
    if not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport())
    return True
