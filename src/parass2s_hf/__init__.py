"""parass2s_hf: ParaS2S (arXiv 2511.08723) in the Hugging Face ecosystem.

Importing the package makes `datasets.load_dataset("parass2sbench", ...)` resolve to the packaged builder and
`evaluate.load("parass2s_judge")` to the packaged judge metric.
"""

__version__ = "0.1.0.dev0"

from .log_filters import install_offline_filters  # first: before anything imports bitsandbytes

install_offline_filters()

from .audio import AudioError, LoadedAudio, load_audio
from .bench import FEATURES, ParaS2SBench, ParaS2SBenchConfig, install_load_dataset_hook, load_parass2sbench
from .constants import DIMENSIONS, QUERY_STYLES, REPLY_STYLES, SAMPLING_RATE, STYLES
from .judge import JudgeConfig, JudgeItem, JudgeResult, ParaS2SJudge, install_evaluate_hook
from .render import format_reply, get_renderer, parse_reply

install_load_dataset_hook()
install_evaluate_hook()

__all__ = [
    "DIMENSIONS",
    "FEATURES",
    "QUERY_STYLES",
    "REPLY_STYLES",
    "SAMPLING_RATE",
    "STYLES",
    "AudioError",
    "JudgeConfig",
    "JudgeItem",
    "JudgeResult",
    "LoadedAudio",
    "ParaS2SBench",
    "ParaS2SBenchConfig",
    "ParaS2SJudge",
    "format_reply",
    "get_renderer",
    "load_audio",
    "load_parass2sbench",
    "parse_reply",
]
