"""The one model layer, at the bottom of the package: how local models load (`LoadSettings`, the quantisation
builder) and a backend per role, in-process (transformers) or served (OpenAI-compatible endpoints: vLLM, APIs).

| role | local | served |
|---|---|---|
| ASR | `ASRBackend` | `ServedASR` (`/audio/transcriptions`) |
| audio LLM | `AudioLLMBackend` | `ServedAudioLLM` (chat with `input_audio` parts) |
| text LLM | `TextLLMBackend` | `ServedTextLLM` (chat) |
| audio classifier | `AudioClassifierBackend` | |

The judge, the systems under test, construction, the analyzers and distillation load models only through here; the
GRPO and SFT policies are loaded by TRL, with `quantization_config` from here.

Before any of them loads, `preflight` checks in about a second, without reading weights, that every model a command
names is there (a folder, or the Hub cache offline) and of the kind its role needs, and that every served endpoint
answers; it reports every wrong setting at once (`check_model`, `check_endpoint`, `judge_checks`).
"""

from .generation import DIGITS, Generation, expected_from_logits
from .local import (
    CPU_AUDIO_BATCH,
    MIN_MODEL_SECONDS,
    ASRBackend,
    AudioClassifierBackend,
    AudioLLMBackend,
    TextLLMBackend,
    collate,
    digit_token_ids,
    extractor_kwargs,
    model_type,
    pad_short,
    style_analyzer,
)
from .preflight import (
    ROLES,
    EndpointCheck,
    ModelCheck,
    PreflightError,
    check_endpoint,
    check_model,
    judge_checks,
    preflight,
)
from .served import (
    EndpointError,
    EndpointUnreachable,
    ServedASR,
    ServedAudioLLM,
    ServedTextLLM,
    audio_messages,
    check_client,
    openai_client,
    require_key,
    wav_base64,
)
from .settings import (
    QUANTIZATION_SKIP_MODULES,
    LoadSettings,
    load_kwargs,
    quantization_config,
    skip_patterns,
    torch_dtype,
)
from .training import audio_classifier_for_training, audio_llm_for_training, load_pretrained

__all__ = [
    "CPU_AUDIO_BATCH",
    "DIGITS",
    "MIN_MODEL_SECONDS",
    "QUANTIZATION_SKIP_MODULES",
    "ROLES",
    "ASRBackend",
    "AudioClassifierBackend",
    "AudioLLMBackend",
    "EndpointCheck",
    "EndpointError",
    "EndpointUnreachable",
    "Generation",
    "LoadSettings",
    "ModelCheck",
    "PreflightError",
    "ServedASR",
    "ServedAudioLLM",
    "ServedTextLLM",
    "TextLLMBackend",
    "audio_classifier_for_training",
    "audio_llm_for_training",
    "audio_messages",
    "check_client",
    "check_endpoint",
    "check_model",
    "collate",
    "digit_token_ids",
    "expected_from_logits",
    "extractor_kwargs",
    "judge_checks",
    "load_kwargs",
    "load_pretrained",
    "model_type",
    "openai_client",
    "pad_short",
    "preflight",
    "quantization_config",
    "require_key",
    "skip_patterns",
    "style_analyzer",
    "torch_dtype",
    "wav_base64",
]
