"""Library notes that say nothing to a user of this package, dropped at the source.

Offline (`HF_HUB_OFFLINE=1`, as in tests and on air-gapped GPU nodes), importing bitsandbytes on a CPU with AVX512-BF16
tries to fetch an optional CPU kernel from the Hub and logs two warnings when it cannot: every script and command
printed them, although a run on a GPU, or without 4-bit, never uses that kernel (4-bit on a CPU falls back to
bitsandbytes' own kernels). The filter is set on those two loggers by name, so it holds whenever bitsandbytes is
imported after this package; other messages of those loggers still show.
"""

from __future__ import annotations

import logging
import os

OFFLINE_KERNEL_NOTES = {
    "kernels._internals.hf_hub": "Skipping publisher trust check for 'kernels-community/",
    "bitsandbytes.backends.cpu.ops": "Failed to load CPU gemm_4bit_forward from kernels-community",
}


class _DropPrefix(logging.Filter):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


def install_offline_filters() -> None:
    """Drop `OFFLINE_KERNEL_NOTES` when the Hub is offline (idempotent)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on"):
        return
    for name, prefix in OFFLINE_KERNEL_NOTES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropPrefix) for f in logger.filters):
            logger.addFilter(_DropPrefix(prefix))
