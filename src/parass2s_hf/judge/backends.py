"""Model backends of the judge: local transformers models and OpenAI-compatible endpoints.

Every backend takes a batch and makes one model call per `batch_size` inputs; each counts its calls, inputs and
encoded audio clips in `stats`, which `benchmarks/bench_judge.py` reports. Decoding is greedy, so the same inputs
give the same outputs.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..constants import SAMPLING_RATE, SCORE_MAX, SCORE_MIN

logger = logging.getLogger(__name__)

DIGITS = tuple(str(d) for d in range(SCORE_MIN, SCORE_MAX + 1))
CPU_AUDIO_BATCH = {"generate": 8, "forward": 1}
"""Largest audio-LLM batch on a CPU, per kind of call. Every clip is padded to 30 s, so a CPU gains nothing from
batching one forward pass (batch 8 ran about 7% slower per pair than one pair at a time, batch 32 about twice as
slow), while generation still gains from batching the decoding steps up to about 8 (benchmarks/RESULTS.md). On a CPU
`batch_size` is capped at these; GPUs use it as given."""


MIN_MODEL_SECONDS = 0.1
"""Clips shorter than this are padded with trailing silence before a model hears them. Qwen2-Audio's processor gives
a clip of 10 ms no audio token at all (the model would not hear it), and one of 60 ms or less a single token, which
the model takes for unexpanded legacy input and crashes on (`'NoneType' object is not subscriptable`) when every clip
of a call is that short; 0.1 s gives two. A wav2vec2 analyzer's convolutions need 25 ms."""


def pad_short(clip: np.ndarray, seconds: float = MIN_MODEL_SECONDS) -> np.ndarray:
    """`clip` with trailing zeros up to `seconds` at 16 kHz (unchanged when it is long enough)."""
    need = round(seconds * SAMPLING_RATE) - len(clip)
    return np.pad(clip, (0, need)) if need > 0 else clip


@dataclass
class Generation:
    """A generated answer and, where logits exist, the logits of "1".."5" at each generated digit: a list of
    (character offset of the digit in `text`, the five digit logits at that step), so the expected score is read at
    the very digit the parser took the score from (`expected_at`), never at another digit of the rationale."""

    text: str
    digit_steps: list[tuple[int, list[float]]] | None = None

    def expected_at(self, offset: int | None) -> float | None:
        """Expected value over "1".."5" at the generated digit that stands at character `offset` of `text`; `None`
        when no logits were recorded there (e.g. the digit was part of a longer token, or no logits exist)."""
        if offset is None or not self.digit_steps:
            return None
        for at, logits in self.digit_steps:
            if at == offset:
                return expected_from_logits(logits)
        return None


def expected_from_logits(logits: Sequence[float]) -> float:
    """Σ k · p(k) over k = 1..5, with p the softmax of the five digit logits (renormalised over the digits)."""
    x = np.asarray(logits, dtype=np.float64)
    p = np.exp(x - x.max())
    p /= p.sum()
    return float(np.dot(p, np.arange(SCORE_MIN, SCORE_MAX + 1)))


def _batches(n: int, size: int):
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def _torch_dtype(name: str):
    import torch

    if name in (None, "auto"):
        return "auto"
    try:
        return getattr(torch, name)
    except AttributeError:
        raise ValueError(f"Unknown torch_dtype {name!r}; use 'auto', 'bfloat16', 'float16' or 'float32'.") from None


def skip_patterns(modules: Sequence[str]) -> list[str]:
    """`llm_int8_skip_modules` entries that keep `modules` (e.g. `audio_tower`) out of bitsandbytes quantisation at
    any depth. transformers 5.2x matches a skip entry from the start of a module's full name, as a regex, or as a
    suffix, so a bare `"audio_tower"` misses `model.audio_tower.layers.0.fc1`: each name is given both bare (older
    releases match substrings) and as `.*name` (a regex from the start)."""
    out = []
    for name in modules:
        out += [name, f".*{name}"] if name != "lm_head" else [name]
    return out


def load_kwargs(cfg, quantize: bool, skip_modules: Sequence[str] = ()) -> dict:
    """`from_pretrained` arguments from a `JudgeConfig`: dtype, device map, safetensors only, no remote code unless
    asked, and 4-bit NF4 when configured (the audio encoder and projector stay unquantised)."""
    kwargs = {"dtype": _torch_dtype(cfg.torch_dtype), "use_safetensors": True,
              "trust_remote_code": bool(cfg.trust_remote_code)}
    if cfg.device_map:
        kwargs["device_map"] = cfg.device_map
    if quantize and cfg.load_in_4bit:
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as e:
            raise ImportError("load_in_4bit needs bitsandbytes: pip install 'parass2s_hf[train]'") from e
        import torch
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16 if torch.cuda.is_available() else torch.float32,
            llm_int8_skip_modules=skip_patterns([*skip_modules, "lm_head"]),
        )
    return kwargs


def _device(model):
    return next(model.parameters()).device


def _model_type(model_id: str, cfg) -> str:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(model_id, trust_remote_code=bool(cfg.trust_remote_code)).model_type


def _digit_ids(tokenizer, model_id: str) -> list[int]:
    ids = []
    for d in DIGITS:
        enc = tokenizer.encode(d, add_special_tokens=False)
        if len(enc) != 1:
            raise ValueError(f"The tokenizer of {model_id} does not encode {d!r} as one token; expected scores need it.")
        ids.append(enc[0])
    return ids


def _digit_steps(tokenizer, step_logits, generated_ids, digit_ids) -> list[tuple[str, list[tuple[int, list[float]]]]]:
    """Per sequence: the decoded answer (stripped, as `Generation.text`) and, at every generated step whose token is
    a digit, (the digit's character offset in that answer, the logits of the five digits at that step).

    The offset is the length of the decoded prefix before the step (less the whitespace the answer's strip removes);
    a step whose offset does not land on its digit in the answer (a tokenizer whose prefixes decode differently) is
    left out: no expected score is better than one read at the wrong token."""
    lookup = {tid: str(k + SCORE_MIN) for k, tid in enumerate(digit_ids)}
    picked = [logits[:, digit_ids].float().cpu().numpy() for logits in step_logits]
    out = []
    for row in range(generated_ids.shape[0]):
        ids = generated_ids[row].tolist()
        full = tokenizer.decode(ids, skip_special_tokens=True)
        text = full.strip()
        lead = len(full) - len(full.lstrip())
        steps = []
        for step, tid in enumerate(ids[:len(picked)]):
            digit = lookup.get(tid)
            if digit is None:
                continue
            offset = len(tokenizer.decode(ids[:step], skip_special_tokens=True)) - lead
            if 0 <= offset < len(text) and text[offset] == digit:
                steps.append((offset, picked[step][row].tolist()))
        out.append((text, steps))
    return out


def _collate(parts: list[dict], pad_token_id: int) -> dict:
    """Batch single-conversation processor outputs: token tensors are left-padded (decoder-only generation), audio
    tensors (one row per clip) are concatenated."""
    import torch

    out = {}
    width = max(p["input_ids"].shape[1] for p in parts)
    for key in parts[0]:
        values = [p[key] for p in parts]
        if not hasattr(values[0], "shape"):
            continue
        if key in ("input_ids", "attention_mask"):
            fill = pad_token_id if key == "input_ids" else 0
            values = [torch.nn.functional.pad(v, (width - v.shape[1], 0), value=fill) for v in values]
        out[key] = torch.cat(values, dim=0)
    return out


class ASRBackend:
    """A transformers speech-to-text model (Whisper and the like), batched."""

    def __init__(self, model_id: str, cfg):
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES

        model_type = _model_type(model_id, cfg)
        if model_type not in MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES:
            raise ValueError(f"asr_model {model_id!r} is a {model_type!r} checkpoint, not a speech recogniser "
                             f"(expected a speech-to-text model such as Whisper).")
        self.model_id, self.cfg = model_id, cfg
        self.processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=bool(cfg.trust_remote_code))
        self.model = AutoModelForSpeechSeq2Seq.from_pretrained(model_id, **load_kwargs(cfg, quantize=False)).eval()
        self.stats = Counter()

    def transcribe(self, arrays: Sequence[np.ndarray]) -> list[str]:
        import torch

        texts = []
        gen = self.model.generation_config
        extra = {"language": "en", "task": "transcribe"} if getattr(gen, "lang_to_id", None) else {}
        for sl in _batches(len(arrays), self.cfg.batch_size):
            # clip by clip: the Whisper feature extractor is slower per clip on a batch (it pads each to 30 s anyway)
            features = torch.cat([self.processor([a], sampling_rate=SAMPLING_RATE, return_tensors="pt")["input_features"]
                                  for a in arrays[sl]]).to(_device(self.model), self.model.dtype)
            with torch.inference_mode():
                out = self.model.generate(features, max_new_tokens=self.cfg.asr_max_new_tokens, do_sample=False, **extra)
            texts += [t.strip() for t in self.processor.batch_decode(out, skip_special_tokens=True)]
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=sl.stop - sl.start)
        return texts


class AudioLLMBackend:
    """A transformers audio LLM (Qwen2-Audio, Qwen2.5-Omni thinker, ...): generation and one-forward digit scores."""

    def __init__(self, model_id: str, cfg, role: str = "audio_llm", adapter: str | None = None):
        from transformers import AutoModelForMultimodalLM, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES

        model_type = _model_type(model_id, cfg)
        processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=bool(cfg.trust_remote_code))
        if model_type not in MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES or getattr(processor, "feature_extractor", None) is None:
            raise ValueError(f"{role} {model_id!r} is a {model_type!r} checkpoint, not an audio LLM: this stage needs a "
                             f"model that listens to audio (e.g. Qwen/Qwen2-Audio-7B-Instruct).")
        self.model_id, self.cfg, self.processor = model_id, cfg, processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched generation of a decoder-only model
        self.model = AutoModelForMultimodalLM.from_pretrained(
            model_id, **load_kwargs(cfg, quantize=True, skip_modules=("audio_tower", "multi_modal_projector"))).eval()
        if adapter:
            try:
                from peft import PeftModel
            except ImportError as e:
                raise ImportError("A reward_adapter needs peft: pip install 'parass2s_hf[train]'") from e
            self.model = PeftModel.from_pretrained(self.model, adapter).eval()
        self.digit_ids = _digit_ids(self.tokenizer, model_id)
        self.stats = Counter()

    def _inputs(self, conversations: Sequence[list], audios: Sequence[Sequence[np.ndarray]]):
        # One processor call per conversation, then collate: the Whisper feature extractor is 2-4x slower per clip
        # on a batch than clip by clip (measured on CPU), and the processor pads every clip to 30 s either way.
        parts = []
        for conv, clips in zip(conversations, audios):
            text = self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
            parts.append(self.processor(text=[text], audio=[pad_short(c) for c in clips], sampling_rate=SAMPLING_RATE,
                                        return_tensors="pt"))
        inputs = _collate(parts, self.tokenizer.pad_token_id)
        device = _device(self.model)
        return {k: (v.to(device, self.model.dtype) if v.is_floating_point() else v.to(device))
                for k, v in inputs.items()}, sum(len(c) for c in audios)

    def batch_size(self, kind: str) -> int:
        on_cpu = _device(self.model).type == "cpu"
        return min(self.cfg.batch_size, CPU_AUDIO_BATCH[kind]) if on_cpu else self.cfg.batch_size

    def generate(self, conversations: Sequence[list], audios: Sequence[Sequence[np.ndarray]],
                 max_new_tokens: int) -> list[Generation]:
        import torch

        results = []
        for sl in _batches(len(conversations), self.batch_size("generate")):
            inputs, n_clips = self._inputs(conversations[sl], audios[sl])
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                          output_logits=True, return_dict_in_generate=True)
            generated = out.sequences[:, inputs["input_ids"].shape[1]:]
            results += [Generation(t, s) for t, s in _digit_steps(self.tokenizer, out.logits, generated, self.digit_ids)]
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=n_clips)
        return results

    def digit_scores(self, conversations: Sequence[list],
                     audios: Sequence[Sequence[np.ndarray]]) -> list[tuple[float, int, float]]:
        """One forward per batch: (expected score, argmax digit, probability mass on the digits) per conversation."""
        import torch

        results = []
        for sl in _batches(len(conversations), self.batch_size("forward")):
            inputs, n_clips = self._inputs(conversations[sl], audios[sl])
            with torch.inference_mode():
                logits = self.model(**inputs, logits_to_keep=1).logits[:, -1, :].float()
            probs = torch.softmax(logits, dim=-1)[:, self.digit_ids].cpu().numpy()
            for row, p in zip(logits[:, self.digit_ids].cpu().numpy(), probs):
                results.append((expected_from_logits(row), int(np.argmax(row)) + SCORE_MIN, float(p.sum())))
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=n_clips)
        return results


class TextLLMBackend:
    """A transformers chat LLM for the rubric stage."""

    def __init__(self, model_id: str, cfg):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id, self.cfg = model_id, cfg
        self.tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=bool(cfg.trust_remote_code))
        if self.tokenizer.chat_template is None:
            raise ValueError(f"rubric_model {model_id!r} has no chat template; use an instruct/chat checkpoint.")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_id, **load_kwargs(cfg, quantize=True)).eval()
        self.digit_ids = _digit_ids(self.tokenizer, model_id)
        self.stats = Counter()

    def generate(self, messages: Sequence[list], max_new_tokens: int, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0) -> list[Generation]:
        """Greedy by default (the judge); `do_sample=True` samples with `temperature` and `top_p` from the global torch
        RNG, which the caller seeds (the cascade system under test)."""
        import torch

        # temperature and top_p only go to generate when sampling: greedy decoding warns about unused ones
        decoding = {"do_sample": True, "temperature": temperature, "top_p": top_p} if do_sample else {"do_sample": False}
        results = []
        for sl in _batches(len(messages), self.cfg.batch_size):
            texts = [self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
                     for m in messages[sl]]
            inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs = {k: v.to(_device(self.model)) for k, v in inputs.items()}
            with torch.inference_mode():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, **decoding,
                                          output_logits=True, return_dict_in_generate=True,
                                          pad_token_id=self.tokenizer.pad_token_id)
            generated = out.sequences[:, inputs["input_ids"].shape[1]:]
            results += [Generation(t, s) for t, s in _digit_steps(self.tokenizer, out.logits, generated, self.digit_ids)]
            self.stats.update(calls=1, inputs=sl.stop - sl.start)
        return results


def _logprob_digit_steps(content: str, tokens) -> tuple[str, list[tuple[int, list[float]]] | None]:
    """The stripped answer and, from an endpoint's `logprobs.content`, (character offset, five digit log-probs) at
    each token that is a digit (" 4" included). Offsets are the running length of the token strings; a token whose
    offset does not land on its digit in the answer is left out."""
    text = content.strip()
    lead = len(content) - len(content.lstrip())
    steps, position = [], 0
    for token in tokens or []:
        piece = token.token or ""
        digit = piece.strip()
        if digit in DIGITS:
            offset = position + piece.index(digit) - lead
            if 0 <= offset < len(text) and text[offset] == digit:
                top = {t.token.strip(): t.logprob for t in (token.top_logprobs or [])}
                steps.append((offset, [top.get(d, -1e4) for d in DIGITS]))
        position += len(piece)
    return text, steps or None


class OpenAIChatBackend:
    """An OpenAI-compatible chat endpoint (OpenAI, vLLM, TGI) through the `openai` client (extra `api`).

    Not `huggingface_hub.InferenceClient`: it refuses every request, even to your own server, when `HF_HUB_OFFLINE`
    is set, which is how judges on air-gapped GPU machines run.

    The key is read from the environment variable `cfg.rubric_api_key_env` when the backend is built and kept only
    inside the client: it is never logged, returned or written.
    """

    def __init__(self, base_url: str, model: str, cfg):
        try:
            from openai import OpenAI
        except ImportError as e:
            raise ImportError("An OpenAI-compatible rubric endpoint needs the openai client: "
                              "pip install 'parass2s_hf[api]'") from e

        key = os.environ.get(cfg.rubric_api_key_env)
        if not key:
            raise ValueError(f"rubric_api_base is set but the environment variable {cfg.rubric_api_key_env} (the API "
                             f"key) is empty; export it or set rubric_api_key_env to the variable that holds it.")
        self.client = OpenAI(base_url=base_url, api_key=key, max_retries=3)
        self.model, self.cfg = model, cfg
        self.logprobs = True
        self.stats = Counter()

    def _one(self, messages) -> Generation:
        kwargs = {"messages": messages, "model": self.model, "max_tokens": self.cfg.rubric_max_new_tokens,
                  "temperature": 0.0}
        if self.logprobs:
            try:
                out = self.client.chat.completions.create(**kwargs, logprobs=True, top_logprobs=5)
            except Exception as e:  # noqa: BLE001 - endpoints without logprobs reject the argument
                logger.info("endpoint refused logprobs (%s); scoring without score_expected", type(e).__name__)
                self.logprobs = False
                out = self.client.chat.completions.create(**kwargs)
        else:
            out = self.client.chat.completions.create(**kwargs)
        choice = out.choices[0]
        return Generation(*_logprob_digit_steps(choice.message.content or "",
                                                getattr(getattr(choice, "logprobs", None), "content", None)))

    def generate(self, messages: Sequence[list], max_new_tokens: int) -> list[Generation]:
        with ThreadPoolExecutor(max_workers=self.cfg.batch_size) as pool:
            results = list(pool.map(self._one, messages))
        self.stats.update(calls=len(messages), inputs=len(messages))
        return results


def extractor_kwargs(extractor) -> dict:
    """How to call `extractor` on a batch of different lengths: Whisper-style extractors pad to their fixed window
    (the encoder needs it); the others pad to the longest clip and return an attention mask when they can."""
    if hasattr(extractor, "nb_max_frames") or hasattr(extractor, "n_samples"):
        return {}
    kwargs = {"padding": True}
    if getattr(extractor, "return_attention_mask", False):
        kwargs["return_attention_mask"] = True
    return kwargs


class StyleAnalyzerBackend:
    """An audio classifier whose labels are one dimension's styles (a PolyTone analyzer)."""

    def __init__(self, model_id: str, dimension: str, cfg):
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        from ..constants import STYLES

        self.model = AutoModelForAudioClassification.from_pretrained(model_id, **load_kwargs(cfg, quantize=False)).eval()
        self.extractor = AutoFeatureExtractor.from_pretrained(model_id)
        labels = {str(v).lower() for v in self.model.config.id2label.values()}
        if labels != set(STYLES[dimension]):
            raise ValueError(f"style analyzer {model_id!r} has labels {sorted(labels)}, not the {dimension} styles "
                             f"{list(STYLES[dimension])}.")
        self.model_id, self.cfg = model_id, cfg
        self.stats = Counter()

    def classify(self, arrays: Sequence[np.ndarray]) -> list[str]:
        import torch

        out = []
        for sl in _batches(len(arrays), self.cfg.batch_size):
            inputs = self.extractor([pad_short(a) for a in arrays[sl]], sampling_rate=SAMPLING_RATE, return_tensors="pt",
                                    **extractor_kwargs(self.extractor))
            inputs = {k: v.to(_device(self.model)) for k, v in inputs.items()}
            with torch.inference_mode():
                ids = self.model(**inputs).logits.argmax(-1).tolist()
            out += [str(self.model.config.id2label[i]).lower() for i in ids]
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=sl.stop - sl.start)
        return out
