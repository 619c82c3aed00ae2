"""Crash-safe files of a run folder: the JSONL logs and atomic writes of `parass2s_hf.io` (kept under this name for
the modules that import them from here)."""

from ..io import JsonlLog, write_atomic, write_json

__all__ = ["JsonlLog", "write_atomic", "write_json"]
