"""Progress bars: tqdm's, turned off by `TQDM_DISABLE=1` (or `--quiet`) like every other bar."""

from __future__ import annotations

import os


def progress(iterable=None, *, off: bool = False, **kwargs):
    """A `tqdm.auto.tqdm` bar over `iterable` (or with `total=`), hidden when `off`.

    tqdm reads `TQDM_DISABLE` once, when it is imported, and only for arguments a call leaves out: the variable is read
    here at each bar (`--quiet` sets it after tqdm may have been imported), and `disable` is passed only to turn a bar
    off (an explicit `disable=False` would override the variable).
    """
    from tqdm.auto import tqdm

    if off or bars_disabled():
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)


def bars_disabled() -> bool:
    """`TQDM_DISABLE` set to a true value (`1`, `true`, `yes`)."""
    return os.environ.get("TQDM_DISABLE", "").strip().lower() in ("1", "true", "yes", "on")
