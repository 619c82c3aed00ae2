"""ParaS2SBench: the `datasets` builder, its text layer and its lint."""

from .features import FEATURES, ROW_FIELDS
from .loading import install_load_dataset_hook, load_parass2sbench
from .parass2s_bench import CONFIG_NAMES, ParaS2SBench, ParaS2SBenchConfig

__all__ = [
           "CONFIG_NAMES",
           "FEATURES",
           "ROW_FIELDS",
           "ParaS2SBench",
           "ParaS2SBenchConfig",
           "install_load_dataset_hook",
           "load_parass2sbench",
]
