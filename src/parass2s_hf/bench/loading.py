"""Entry points: `load_parass2sbench(...)` and `load_dataset("parass2sbench", ...)`.

`datasets` 5 no longer runs loading scripts and has no registry for third-party builders. After
`import parass2s_hf`, the name `"parass2sbench"` resolves to the packaged builder by wrapping
`datasets.load.dataset_module_factory` for that one name (every other name goes to the original), in every module
of `datasets` that holds it: `datasets.inspect` imported it by name, so `get_dataset_config_names`,
`get_dataset_infos`, `get_dataset_split_names` and `get_dataset_config_info` resolve the name as `load_dataset` does.
The wrapped function is private to `datasets`: `tests/test_entry_points.py` fails loudly if an upgrade breaks it,
and `load_parass2sbench`, which uses only the public builder API, keeps working regardless.
"""

from __future__ import annotations

import hashlib
import os
import sys
from importlib import resources
from typing import Any

import datasets

from . import parass2s_bench
from .parass2s_bench import ParaS2SBench

DATASET_NAME = "parass2sbench"


def builder_hash() -> str:
    """Hash of everything that changes the prepared data: the code that builds rows and the shipped data files.
    `datasets` puts it in the cache path, so an upgrade of the package or its texts never reuses a stale cache."""
    digest = hashlib.sha256()
    package = resources.files("parass2s_hf")
    files = [package / "audio.py", package / "constants.py"]
    for sub in ("bench", "render"):
        files += sorted((p for p in (package / sub).iterdir() if p.name.endswith(".py")), key=lambda p: p.name)
    data = package / "bench" / "data"
    files += sorted(_walk(data), key=lambda p: str(p))
    for path in files:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _walk(folder):
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _walk(entry)
        else:
            yield entry


def load_parass2sbench(
    name: str = "synthetic",
    split: str | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | None = None,
    streaming: bool = False,
    download_mode: str | None = None,
    **config_kwargs: Any,
):
    """Load a ParaS2SBench config without going through `load_dataset`'s name lookup.

    Args:
        name (`str`, *optional*, defaults to `"synthetic"`): one of `sample`, `emotion`, `sarcasm`, `age`, `gender`,
            `synthetic`, `iemocap`, `meld`, `all`.
        split (`str`, *optional*): `"test"` or `"train"`; all splits (a `DatasetDict`) when `None`.
        data_dir (`str`, *optional*): your own rendered audio in the `data_dir` layout (synthetic configs), or
            the corpus folder (`iemocap`, `meld`).
        cache_dir (`str`, *optional*): where prepared data is cached (defaults to the `datasets` cache).
        streaming (`bool`, *optional*, defaults to `False`): return an `IterableDataset` rendered on the fly.
        download_mode (`str`, *optional*): e.g. `"force_redownload"` to prepare again.
        **config_kwargs: fields of `ParaS2SBenchConfig` (`renderer`, `text_layer`, `iemocap_dir`, `meld_dir`, ...).

    Returns:
        `datasets.Dataset`, `datasets.DatasetDict` or `datasets.IterableDataset`.

    Example:
    ```python
    >>> import parass2s_hf
    >>> ds = parass2s_hf.load_parass2sbench("sample", split="test")
    >>> ds[0]["style"], ds[0]["audio"].get_all_samples().sample_rate
    ```
    """
    builder = parass2sbench_builder(name, data_dir=data_dir, cache_dir=cache_dir, **config_kwargs)
    if streaming:
        return builder.as_streaming_dataset(split=split)
    builder.download_and_prepare(download_mode=download_mode)
    return builder.as_dataset(split=split)


def parass2sbench_builder(name: str = "synthetic", *, data_dir: str | os.PathLike | None = None,
                          cache_dir: str | None = None, **config_kwargs: Any) -> ParaS2SBench:
    """The builder `load_dataset("parass2sbench", name, ...)` makes, with the same cache folder: preparing through
    one reuses what the other prepared.

    Args:
        name (`str`, *optional*, defaults to `"synthetic"`): the config.
        data_dir (`str`, *optional*): as in `load_parass2sbench`.
        cache_dir (`str`, *optional*): where prepared data is cached (defaults to the `datasets` cache).
        **config_kwargs: fields of `ParaS2SBenchConfig`; `None` values mean "the config's default".

    Returns:
        `ParaS2SBench`.
    """
    return ParaS2SBench(config_name=name, data_dir=os.fspath(data_dir) if data_dir is not None else None,
                        cache_dir=cache_dir, hash=builder_hash(), dataset_name=DATASET_NAME, **config_kwargs)


def _parass2sbench_module() -> datasets.load.DatasetModule:
    return datasets.load.DatasetModule(parass2s_bench.__name__, builder_hash(), {"dataset_name": DATASET_NAME})


def install_load_dataset_hook() -> None:
    """Make `datasets.load_dataset("parass2sbench", ...)`, `load_dataset_builder` and the `datasets.inspect` functions
    (`get_dataset_config_names`, `get_dataset_infos`, ...) resolve to the packaged builder. Idempotent."""
    import datasets.inspect  # noqa: F401  (loaded now, so that its own reference to the factory is replaced too)
    import datasets.load as dl

    hooked = dl.dataset_module_factory
    if not getattr(hooked, "_parass2s_hook", False):
        original = hooked

        def hooked(path, *args, **kwargs):
            if path == DATASET_NAME:
                return _parass2sbench_module()
            return original(path, *args, **kwargs)

        hooked._parass2s_hook = True
        hooked.__wrapped__ = original
        hooked.__doc__ = original.__doc__
        hooked.__name__ = original.__name__
    # Modules that did `from .load import dataset_module_factory` hold their own reference to the original.
    original = hooked.__wrapped__
    for module_name, module in list(sys.modules.items()):
        if module_name.split(".")[0] == "datasets" and getattr(module, "dataset_module_factory", None) is original:
            module.dataset_module_factory = hooked
