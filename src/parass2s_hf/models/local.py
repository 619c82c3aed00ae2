"""In-process transformers backends, one per role: ASR, audio LLM, text LLM, audio classifier.

Every backend takes a batch and makes one model call per `batch_size` inputs (`LoadSettings`); each counts its calls,
inputs and encoded audio clips in `stats`, which `benchmarks/bench_judge.py` reports. Decoding is greedy unless asked
otherwise, so the same inputs give the same outputs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..constants import SAMPLING_RATE, SCORE_MIN
from .generation import DIGITS, Generation, expected_from_logits, expected_generation_notes
from .settings import LoadSettings, check_cpu_4bit, load_kwargs

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

WHISPER_START_TOKENS = 4
"""Whisper's decoder prompt (start of transcript, language, task, no timestamps) counts against its positions."""


def pad_short(clip: np.ndarray, seconds: float = MIN_MODEL_SECONDS) -> np.ndarray:
    """`clip` with trailing zeros up to `seconds` at 16 kHz (unchanged when it is long enough)."""
    need = round(seconds * SAMPLING_RATE) - len(clip)
    return np.pad(clip, (0, need)) if need > 0 else clip


def batches(n: int, size: int):
    """Slices of `range(n)` of at most `size` items."""
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


def model_device(model):
    return next(model.parameters()).device


def model_type(model_id: str, trust_remote_code: bool = False) -> str:
    """The `model_type` of a checkpoint's config (what kind of model a path or Hub id holds)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(model_id, trust_remote_code=bool(trust_remote_code)).model_type


def digit_token_ids(tokenizer, model_id: str) -> list[int]:
    """Token ids of "1".."5"; `ValueError` when the tokenizer does not encode each as one token (an expected score
    needs a digit to be one step)."""
    ids = []
    for d in DIGITS:
        enc = tokenizer.encode(d, add_special_tokens=False)
        if len(enc) != 1:
            raise ValueError(f"The tokenizer of {model_id} does not encode {d!r} as one token; expected scores need it.")
        ids.append(enc[0])
    return ids


def digit_steps(tokenizer, step_logits, generated_ids, digit_ids) -> list[tuple[str, list[tuple[int, list[float]]]]]:
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


def collate(parts: list[dict], pad_token_id: int) -> dict:
    """Batch single-conversation processor outputs: token tensors are left-padded (decoder-only generation, and the
    last position of every row is its prompt's last token), audio tensors (one row per clip) are concatenated."""
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


def extractor_kwargs(extractor) -> dict:
    """How to call `extractor` on a batch of different lengths: Whisper-style extractors pad to their fixed window
    (the encoder needs it); the others pad to the longest clip and return an attention mask when they can."""
    if hasattr(extractor, "nb_max_frames") or hasattr(extractor, "n_samples"):
        return {}
    kwargs = {"padding": True}
    if getattr(extractor, "return_attention_mask", False):
        kwargs["return_attention_mask"] = True
    return kwargs


class ASRBackend:
    """A transformers speech-to-text model (Whisper and the like), batched.

    Args:
        model_id (`str`): Hub id or folder.
        settings (`LoadSettings`): dtype, device map, batch size.
        max_new_tokens (`int`, *optional*, defaults to `128`): the transcript's budget, capped at what the decoder's
            positions allow (Whisper refuses a budget that, with its start tokens, exceeds them: 448 for the released
            models, fewer for small or distilled ones).
    """

    def __init__(self, model_id: str, settings: LoadSettings, max_new_tokens: int = 128):
        from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES

        kind = model_type(model_id, settings.trust_remote_code)
        if kind not in MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES:
            raise ValueError(f"asr_model {model_id!r} is a {kind!r} checkpoint, not a speech recogniser "
                             f"(expected a speech-to-text model such as Whisper).")
        self.model_id, self.settings = model_id, settings
        self.processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=bool(settings.trust_remote_code))
        self.model = AutoModelForSpeechSeq2Seq.from_pretrained(model_id, **load_kwargs(settings)).eval()
        positions = getattr(self.model.config, "max_target_positions", None)
        self.max_new_tokens = max(1, min(max_new_tokens, positions - WHISPER_START_TOKENS - 1)) if positions \
            else max_new_tokens
        self.stats = Counter()

    def transcribe(self, arrays: Sequence[np.ndarray]) -> list[str]:
        import torch

        texts = []
        gen = self.model.generation_config
        extra = {"language": "en", "task": "transcribe"} if getattr(gen, "lang_to_id", None) else {}
        for sl in batches(len(arrays), self.settings.batch_size):
            # clip by clip: the Whisper feature extractor is slower per clip on a batch (it pads each to 30 s anyway)
            parts = [self.processor([a], sampling_rate=SAMPLING_RATE, return_tensors="pt", return_attention_mask=True)
                     for a in arrays[sl]]
            device = model_device(self.model)
            features = torch.cat([p["input_features"] for p in parts]).to(device, self.model.dtype)
            mask = torch.cat([p["attention_mask"] for p in parts]).to(device)
            with torch.inference_mode(), expected_generation_notes():
                out = self.model.generate(features, attention_mask=mask, max_new_tokens=self.max_new_tokens,
                                          do_sample=False, **extra)
            texts += [t.strip() for t in self.processor.batch_decode(out, skip_special_tokens=True)]
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=sl.stop - sl.start)
        return texts


TOWER_CACHE_CLIPS = 32
"""Encoded clips an in-process audio LLM keeps (about 4 MB each for Whisper-large's 1500 x 1280 in bf16)."""


class AudioLLMBackend:
    """A transformers audio LLM (Qwen2-Audio, Qwen2.5-Omni thinker, ...): generation and one-forward digit scores.

    Args:
        model_id (`str`): Hub id or folder.
        settings (`LoadSettings`): dtype, device map, 4-bit, batch size.
        role (`str`, *optional*, defaults to `"audio_llm"`): what the model is for, in messages.
        adapter (`str`, *optional*): a PEFT adapter loaded on top.
    """

    def __init__(self, model_id: str, settings: LoadSettings, role: str = "audio_llm", adapter: str | None = None):
        from transformers import AutoModelForMultimodalLM, AutoProcessor
        from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES

        kind = model_type(model_id, settings.trust_remote_code)
        processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=bool(settings.trust_remote_code))
        if kind not in MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES or getattr(processor, "feature_extractor", None) is None:
            raise ValueError(f"{role} {model_id!r} is a {kind!r} checkpoint, not an audio LLM: this stage needs a "
                             f"model that listens to audio (e.g. Qwen/Qwen2-Audio-7B-Instruct).")
        self.model_id = model_id
        self.settings = settings
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.tokenizer.padding_side = "left"  # batched generation of a decoder-only model
        self.model = AutoModelForMultimodalLM.from_pretrained(model_id, **load_kwargs(settings, quantize=True)).eval()
        check_cpu_4bit(self.model, model_id, role)
        if adapter:
            try:
                from peft import PeftModel
            except ImportError as e:
                raise ImportError("A reward_adapter needs peft: pip install 'parass2s_hf[train]'") from e
            self.model = PeftModel.from_pretrained(self.model, adapter).eval()
        self.digit_ids = digit_token_ids(self.tokenizer, model_id)
        self.stats = Counter()
        from .audio_cache import AudioTowerCache

        # each distinct clip is encoded once while it is among the last TOWER_CACHE_CLIPS (a GRPO group's query,
        # heard with each of its responses, batch after batch)
        self.tower_cache = AudioTowerCache.install(self.model, inference=True, max_entries=TOWER_CACHE_CLIPS)

    def _encoded(self) -> None:
        """Count the clips the tower really encoded in the last batch (`audio_clips_encoded`)."""
        if self.tower_cache is not None:
            self.stats.update(audio_clips_encoded=self.tower_cache.rows_computed)
            self.tower_cache.rows_computed = self.tower_cache.rows_served = 0

    def inputs(self, conversations: Sequence[list], audios: Sequence[Sequence[np.ndarray]]):
        """Processor outputs of a batch on the model's device, and the number of clips in it."""
        # One processor call per conversation, then collate: the Whisper feature extractor is 2-4x slower per clip
        # on a batch than clip by clip (measured on CPU), and the processor pads every clip to 30 s either way.
        parts = []
        for conv, clips in zip(conversations, audios):
            text = self.processor.apply_chat_template(conv, add_generation_prompt=True, tokenize=False)
            parts.append(self.processor(text=[text], audio=[pad_short(c) for c in clips], sampling_rate=SAMPLING_RATE,
                                        return_tensors="pt"))
        inputs = collate(parts, self.tokenizer.pad_token_id)
        device = model_device(self.model)
        return {k: (v.to(device, self.model.dtype) if v.is_floating_point() else v.to(device))
                for k, v in inputs.items()}, sum(len(c) for c in audios)

    def batch_size(self, kind: str) -> int:
        on_cpu = model_device(self.model).type == "cpu"
        return min(self.settings.batch_size, CPU_AUDIO_BATCH[kind]) if on_cpu else self.settings.batch_size

    def generate(self, conversations: Sequence[list], audios: Sequence[Sequence[np.ndarray]],
                 max_new_tokens: int) -> list[Generation]:
        import torch

        results = []
        for sl in batches(len(conversations), self.batch_size("generate")):
            inputs, n_clips = self.inputs(conversations[sl], audios[sl])
            with torch.inference_mode(), expected_generation_notes():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                          output_logits=True, return_dict_in_generate=True)
            self._encoded()
            generated = out.sequences[:, inputs["input_ids"].shape[1]:]
            results += [Generation(t, s) for t, s in digit_steps(self.tokenizer, out.logits, generated, self.digit_ids)]
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=n_clips)
        return results

    def digit_scores(self, conversations: Sequence[list],
                     audios: Sequence[Sequence[np.ndarray]]) -> list[tuple[float, int, float]]:
        """One forward per batch: (expected score, argmax digit, probability mass on the digits) per conversation."""
        import torch

        results = []
        for sl in batches(len(conversations), self.batch_size("forward")):
            inputs, n_clips = self.inputs(conversations[sl], audios[sl])
            with torch.inference_mode():
                logits = self.model(**inputs, logits_to_keep=1).logits[:, -1, :].float()
            self._encoded()
            probs = torch.softmax(logits, dim=-1)[:, self.digit_ids].cpu().numpy()
            for row, p in zip(logits[:, self.digit_ids].cpu().numpy(), probs):
                results.append((expected_from_logits(row), int(np.argmax(row)) + SCORE_MIN, float(p.sum())))
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=n_clips)
        return results


class TextLLMBackend:
    """A transformers chat LLM (the rubric stage, the cascade's LLM, construction's LLM)."""

    def __init__(self, model_id: str, settings: LoadSettings, role: str = "rubric_model"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id, self.settings = model_id, settings
        self.tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=bool(settings.trust_remote_code))
        if self.tokenizer.chat_template is None:
            raise ValueError(f"{role} {model_id!r} has no chat template; use an instruct/chat checkpoint.")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_id, **load_kwargs(settings, quantize=True)).eval()
        check_cpu_4bit(self.model, model_id, role)
        self.digit_ids = digit_token_ids(self.tokenizer, model_id)
        self.stats = Counter()

    def generate(self, messages: Sequence[list], max_new_tokens: int, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float = 1.0) -> list[Generation]:
        """Greedy by default (the judge); `do_sample=True` samples with `temperature` and `top_p` from the global torch
        RNG, which the caller seeds (the cascade system under test)."""
        import torch

        # temperature and top_p only go to generate when sampling: greedy decoding warns about unused ones
        decoding = {"do_sample": True, "temperature": temperature, "top_p": top_p} if do_sample else {"do_sample": False}
        results = []
        for sl in batches(len(messages), self.settings.batch_size):
            texts = [self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
                     for m in messages[sl]]
            inputs = self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
            inputs = {k: v.to(model_device(self.model)) for k, v in inputs.items()}
            with torch.inference_mode(), expected_generation_notes():
                out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, **decoding,
                                          output_logits=True, return_dict_in_generate=True,
                                          pad_token_id=self.tokenizer.pad_token_id)
            generated = out.sequences[:, inputs["input_ids"].shape[1]:]
            results += [Generation(t, s) for t, s in digit_steps(self.tokenizer, out.logits, generated, self.digit_ids)]
            self.stats.update(calls=1, inputs=sl.stop - sl.start)
        return results


class AudioClassifierBackend:
    """An audio classifier (a PolyTone style analyzer): `classify(arrays) -> labels`.

    Args:
        model_id (`str`): Hub id or folder of an `AutoModelForAudioClassification` checkpoint.
        settings (`LoadSettings`): dtype, device map, batch size.
        labels (`list[str]`, *optional*): the labels it must have (lower-cased), e.g. one dimension's styles.
        role (`str`, *optional*, defaults to `"audio classifier"`): what it is for, in messages.
        labels_name (`str`, *optional*): what `labels` are, in messages (e.g. `"gender styles"`).
    """

    def __init__(self, model_id: str, settings: LoadSettings, labels: Sequence[str] | None = None,
                 role: str = "audio classifier", labels_name: str | None = None):
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        self.model = AutoModelForAudioClassification.from_pretrained(model_id, **load_kwargs(settings)).eval()
        self.extractor = AutoFeatureExtractor.from_pretrained(model_id)
        have = {str(v).lower() for v in self.model.config.id2label.values()}
        if labels is not None and have != set(labels):
            raise ValueError(f"{role} {model_id!r} has labels {sorted(have)}, not the "
                             f"{labels_name or 'labels it needs'} {list(labels)}.")
        self.model_id, self.settings = model_id, settings
        self.stats = Counter()

    def classify(self, arrays: Sequence[np.ndarray]) -> list[str]:
        import torch

        out = []
        for sl in batches(len(arrays), self.settings.batch_size):
            inputs = self.extractor([pad_short(a) for a in arrays[sl]], sampling_rate=SAMPLING_RATE,
                                    return_tensors="pt", **extractor_kwargs(self.extractor))
            inputs = {k: v.to(model_device(self.model)) for k, v in inputs.items()}
            with torch.inference_mode():
                ids = self.model(**inputs).logits.argmax(-1).tolist()
            out += [str(self.model.config.id2label[i]).lower() for i in ids]
            self.stats.update(calls=1, inputs=sl.stop - sl.start, audio_clips=sl.stop - sl.start)
        return out


def style_analyzer(model_id: str, dimension: str, settings: LoadSettings) -> AudioClassifierBackend:
    """A PolyTone style analyzer of `dimension`: an audio classifier whose labels must be that dimension's styles."""
    from ..constants import STYLES

    return AudioClassifierBackend(model_id, settings, labels=STYLES[dimension], role=f"{dimension} style analyzer",
                                  labels_name=f"{dimension} styles")
