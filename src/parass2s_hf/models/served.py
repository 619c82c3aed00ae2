"""Served backends: the same roles as `local`, through OpenAI-compatible endpoints (vLLM, OpenAI, other APIs).

- ASR: `POST /audio/transcriptions` (vLLM serves Whisper this way);
- audio LLM: chat completions whose user content holds `input_audio` parts (base64 WAV), as vLLM and OpenAI's audio
  models take them;
- text LLM: chat completions.
Generating roles ask for `logprobs`/`top_logprobs`, so the expected score can be read at the score's own token; a
server that refuses them (HTTP 400 naming logprobs) is asked without, and its answers carry the reason in
`Generation.note`.

Faults. The `openai` client retries connection errors, timeouts, 408/409/429 and 5xx itself, with exponential
backoff (`max_retries`); a transient error therefore never changes how later items are scored. A request that still
fails is that item's failure (`Generation.error`, or an `EndpointError` in the results of `transcribe`), never the
batch's. A server that cannot be reached at all raises `EndpointUnreachable`, one line naming the role and the URL.
The key is read from an environment variable when the backend is built, and lives only inside the client.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..constants import SAMPLING_RATE, SCORE_MIN
from .generation import DIGITS, Generation, expected_from_logits
from .settings import LoadSettings

logger = logging.getLogger(__name__)

TOP_LOGPROBS = 20
"""Alternatives asked per token: the five digits are among them whenever they carry any real probability."""


class EndpointError(RuntimeError):
    """One request that failed after the client's retries (the message names the role, the URL and the error)."""


class EndpointUnreachable(ConnectionError):
    """The server cannot be reached at all: the message is one line naming the role and the URL."""


def check_client(purpose: str) -> None:
    """Fail at build time, before any work, when the `openai` client is not installed."""
    try:
        import openai  # noqa: F401
    except ImportError as e:
        raise ImportError(f"{purpose} needs the openai client: pip install 'parass2s_hf[api]'") from e


def require_key(api_key_env: str, purpose: str) -> str:
    """The API key held by the environment variable `api_key_env`: the project's one reader of keys.

    Raises:
        `ValueError`: the variable is unset or empty (the message names it, never a key).
    """
    key = os.environ.get(api_key_env)
    if not key:
        raise ValueError(f"{purpose} needs an API key, but the environment variable {api_key_env} is unset or empty; "
                         f"export it (any value, e.g. EMPTY, for a vLLM server started without --api-key), or pass "
                         f"the name of the variable that holds the key.")
    return key


def openai_client(api_base: str | None, api_key_env: str, purpose: str, max_retries: int = 3,
                  timeout: float = 120.0):
    """An `openai.OpenAI` client whose key comes from the environment variable `api_key_env` (`require_key`).

    Not `huggingface_hub.InferenceClient`: it refuses every request when `HF_HUB_OFFLINE` is set, even to your own
    server. The key lives only inside the client: it is never logged, returned or written.

    Args:
        api_base (`str`, *optional*): the endpoint (`None` for OpenAI's own).
        api_key_env (`str`): name of the environment variable holding the key.
        purpose (`str`): what the client is for, to name it in error messages.
        max_retries (`int`, *optional*, defaults to `3`): retries of a failed request, with the client's exponential
            backoff.
        timeout (`float`, *optional*, defaults to `120.0`): seconds per request.

    Raises:
        `ImportError`: the `openai` client is not installed.
        `ValueError`: the environment variable is unset or empty.
    """
    check_client(purpose)
    from openai import OpenAI

    return OpenAI(base_url=api_base, api_key=require_key(api_key_env, purpose), max_retries=max_retries,
                  timeout=timeout)


def wav_bytes(samples: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> bytes:
    """16-bit PCM WAV bytes of a clip."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, samples, sampling_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def wav_base64(samples: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> str:
    return base64.b64encode(wav_bytes(samples, sampling_rate)).decode("ascii")


def logprob_digit_steps(content: str, tokens) -> tuple[str, list[tuple[int, list[float]]] | None]:
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


class _Served:
    """What every served backend shares: the client, its name in messages, the fault handling."""

    def __init__(self, base_url: str, model: str, settings: LoadSettings, api_key_env: str, role: str,
                 max_retries: int = 3, timeout: float = 120.0):
        self.base_url = base_url
        self.model = model
        self.settings = settings
        self.role = role
        self.model_id = f"{model} (served)"  # what identifies its outputs in perception cache keys
        self.client = openai_client(base_url, api_key_env, f"The {role} endpoint ({model} at {base_url})", max_retries,
                                    timeout)
        self.stats = Counter()

    def _call(self, fn, *args, **kwargs):
        """`fn(*args, **kwargs)` with the client's retries; a failure after them is an `EndpointError`, or
        `EndpointUnreachable` when no connection could be made."""
        import openai

        try:
            return fn(*args, **kwargs)
        except (openai.APIConnectionError, openai.APITimeoutError) as e:
            self.stats["unreachable"] += 1
            raise EndpointUnreachable(f"The {self.role} endpoint {self.base_url} ({self.model}) is unreachable: "
                                      f"{type(e).__name__}: {e}") from None
        except openai.APIStatusError as e:
            raise EndpointError(f"the {self.role} endpoint {self.base_url} answered HTTP {e.status_code}: "
                                f"{_short(e)}") from None

    def _pool(self, fn, items: Sequence) -> list:
        """`fn` over `items` with `batch_size` requests in flight, in order; an unreachable server stops the batch."""
        with ThreadPoolExecutor(max_workers=max(1, min(self.settings.batch_size, len(items) or 1))) as pool:
            return list(pool.map(fn, items))


def _short(error: Exception, n: int = 200) -> str:
    text = " ".join(str(getattr(error, "message", None) or error).split())
    return text[:n] + ("..." if len(text) > n else "")


class ServedASR(_Served):
    """Speech recognition through `POST /audio/transcriptions` (e.g. `vllm serve openai/whisper-large-v3`).

    `transcribe(arrays)` returns, per clip, its transcript or the `EndpointError` of a request that failed.
    """

    def __init__(self, base_url: str, model: str, settings: LoadSettings, api_key_env: str = "OPENAI_API_KEY",
                 **kwargs):
        super().__init__(base_url, model, settings, api_key_env, role="asr", **kwargs)

    def _one(self, array: np.ndarray):
        try:
            out = self._call(self.client.audio.transcriptions.create, model=self.model, language="en",
                             file=("clip.wav", wav_bytes(array), "audio/wav"), response_format="json")
        except EndpointError as e:
            return e
        return (getattr(out, "text", None) or "").strip()

    def transcribe(self, arrays: Sequence[np.ndarray]) -> list:
        out = self._pool(self._one, list(arrays))
        self.stats.update(calls=len(out), inputs=len(out), audio_clips=len(out))
        return out


class _ServedChat(_Served):
    """Chat completions with logprobs where the server gives them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.logprobs = True
        self.logprobs_note = ""

    def _complete(self, messages: list, max_tokens: int, top_logprobs: int = 5, **extra):
        kwargs = {"messages": messages, "model": self.model, "max_tokens": max_tokens, "temperature": 0.0, **extra}
        if self.logprobs:
            try:
                return self._call(self.client.chat.completions.create, **kwargs, logprobs=True,
                                  top_logprobs=top_logprobs)
            except EndpointError as e:
                # Only a refusal of the logprobs argument itself turns them off; a transient fault was retried by the
                # client, and any other error is this item's.
                if "HTTP 400" not in str(e) or "logprob" not in str(e).lower():
                    raise
                self.logprobs = False
                self.logprobs_note = f"the {self.role} endpoint gives no logprobs ({e})"
                logger.warning("%s; scoring without score_expected", self.logprobs_note)
        return self._call(self.client.chat.completions.create, **kwargs)

    def _generation(self, messages: list, max_tokens: int) -> Generation:
        try:
            out = self._complete(messages, max_tokens)
        except EndpointError as e:
            return Generation("", error=str(e))
        choice = out.choices[0]
        text, steps = logprob_digit_steps(choice.message.content or "",
                                          getattr(getattr(choice, "logprobs", None), "content", None))
        note = "" if steps or self.logprobs else self.logprobs_note
        if not steps and self.logprobs and getattr(choice, "logprobs", None) is None:
            note = f"the {self.role} endpoint returned no logprobs"
        return Generation(text, steps, note=note)


class ServedTextLLM(_ServedChat):
    """A chat LLM behind an endpoint (the rubric stage: GPT-4.1, or `vllm serve Qwen/Qwen2.5-7B-Instruct`)."""

    def __init__(self, base_url: str, model: str, settings: LoadSettings, api_key_env: str = "OPENAI_API_KEY",
                 role: str = "rubric_model", **kwargs):
        super().__init__(base_url, model, settings, api_key_env, role=role, **kwargs)

    def generate(self, messages: Sequence[list], max_new_tokens: int) -> list[Generation]:
        out = self._pool(lambda m: self._generation(m, max_new_tokens), list(messages))
        self.stats.update(calls=len(out), inputs=len(out))
        return out


def audio_messages(conversation: list, clips: Sequence[np.ndarray]) -> list:
    """A conversation in the project's format (parts `{"type": "audio"}` and `{"type": "text"}`) as OpenAI chat
    messages: each audio part becomes an `input_audio` part holding the next clip as base64 WAV."""
    clips = list(clips)
    messages = []
    for message in conversation:
        content = message["content"]
        if isinstance(content, str):
            messages.append({"role": message["role"], "content": content})
            continue
        parts = []
        for part in content:
            if part.get("type") == "audio":
                if not clips:
                    raise ValueError("the conversation has more audio parts than clips")
                parts.append({"type": "input_audio", "input_audio": {"data": wav_base64(clips.pop(0)), "format": "wav"}})
            elif part.get("type") == "text":
                parts.append({"type": "text", "text": part["text"]})
        messages.append({"role": message["role"], "content": parts})
    if clips:
        raise ValueError(f"the conversation has {len(clips)} clip(s) more than audio parts")
    return messages


class ServedAudioLLM(_ServedChat):
    """An audio LLM behind an endpoint (`vllm serve Qwen/Qwen2-Audio-7B-Instruct`, GPT-4o audio): generation, and
    one-token digit scores from the top log-probabilities."""

    def __init__(self, base_url: str, model: str, settings: LoadSettings, api_key_env: str = "OPENAI_API_KEY",
                 role: str = "audio_llm", **kwargs):
        super().__init__(base_url, model, settings, api_key_env, role=role, **kwargs)

    def generate(self, conversations: Sequence[list], audios: Sequence[Sequence[np.ndarray]],
                 max_new_tokens: int) -> list[Generation]:
        jobs = list(zip(conversations, audios))
        out = self._pool(lambda job: self._generation(audio_messages(*job), max_new_tokens), jobs)
        self.stats.update(calls=len(out), inputs=len(out), audio_clips=sum(len(a) for _, a in jobs))
        return out

    def _digit_score(self, job):
        try:
            out = self._complete(audio_messages(*job), 1, top_logprobs=TOP_LOGPROBS)
        except EndpointError as e:
            return e
        tokens = getattr(getattr(out.choices[0], "logprobs", None), "content", None)
        if not tokens:
            return EndpointError(self.logprobs_note or f"the {self.role} endpoint returned no logprobs: a served "
                                 f"reward model needs them")
        top = {}
        for t in tokens[0].top_logprobs or []:
            key = t.token.strip()
            if key in DIGITS:
                top[key] = max(top.get(key, -math.inf), t.logprob)
        if not top:
            return (None, None, 0.0)  # no digit among the likely tokens: no mass to speak of
        logits = [top.get(d, -1e4) for d in DIGITS]
        mass = float(sum(math.exp(v) for v in top.values()))
        return expected_from_logits(logits), int(np.argmax(logits)) + SCORE_MIN, mass

    def digit_scores(self, conversations: Sequence[list], audios: Sequence[Sequence[np.ndarray]]) -> list:
        """Per conversation: (expected score, argmax digit, probability mass of the digits among the top
        `TOP_LOGPROBS` alternatives: a lower bound), or the `EndpointError` of a request that failed."""
        jobs = list(zip(conversations, audios))
        out = self._pool(self._digit_score, jobs)
        self.stats.update(calls=len(out), inputs=len(out), audio_clips=sum(len(a) for _, a in jobs))
        return out
