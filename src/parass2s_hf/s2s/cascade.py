"""The ASR -> text LLM -> TTS cascade: the paper's Whisper-GPT-TTS baseline and its labelled topline.

Style-blind (the baseline): the LLM reads only the transcript, and the reply is spoken in the neutral style, so
nothing of how the user sounded reaches the reply. Labelled (the topline): the LLM is also told the query's true
style (`row["style"]`) and answers in the reply format `[style: <reply style>] <reply>`; the renderer speaks the
reply in that style.

```python
>>> system = build_system("cascade", asr="openai/whisper-large-v3", llm="Qwen/Qwen2.5-7B-Instruct", labelled=True)
>>> [response] = system.respond([row])
>>> response.text, response.info["reply_style"], response.info["transcript"]
("Oh no, I'm so sorry. Do you want to talk about it?", 'sympathetic', 'I failed my driving test again.')
>>> system.timings        # seconds per stage, over every call
Counter({'asr': 0.41, 'llm': 1.93, 'tts': 0.06})
```
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..audio import load_audio
from ..constants import REPLY_STYLES, SAMPLING_RATE
from .base import S2SResponse, register_system

BLIND_SYSTEM_PROMPT = (
    "You are a friendly voice assistant in a spoken conversation. You are given a transcript of what the user just "
    "said. Reply as you would say it aloud: one to three short sentences in plain words, with no lists, markdown or "
    "emojis."
)
LABELLED_SYSTEM_PROMPT = (
    BLIND_SYSTEM_PROMPT + " You are also told how the user sounds. Let it shape both what you say and how you say "
    "it. Start your reply with the speaking style of your voice, written [style: <style>], where <style> is one of: "
    + ", ".join(REPLY_STYLES) + ". Then write the words to speak, for example: [style: warm] That sounds lovely!"
)
STYLE_HINTS = {
    "happy": "The user sounds happy.",
    "surprised": "The user sounds surprised.",
    "sad": "The user sounds sad.",
    "angry": "The user sounds angry.",
    "fear": "The user sounds afraid.",
    "disgust": "The user sounds disgusted.",
    "sincere": "The user is being sincere.",
    "sarcastic": "The user is being sarcastic.",
    "adult": "The user is an adult.",
    "child": "The user is a child.",
    "male": "The user is a man.",
    "female": "The user is a woman.",
}
"""How the labelled topline tells the LLM the query's style, one sentence per query style."""


def row_seed(seed: int, sample_index: int, key: str) -> int:
    """A 31-bit seed from the system's seed, the sample index and a row key: each (row, sample) draws the same way
    whatever batch it comes in."""
    digest = hashlib.sha256(f"{seed}:{sample_index}:{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def style_hint(dimension: str | None, style: str | None) -> str | None:
    """The sentence telling the LLM how the user sounds; `None` for a row without a style."""
    if not style:
        return None
    if style in STYLE_HINTS:
        return STYLE_HINTS[style]
    # a label outside the benchmark's styles (e.g. a real corpus's "neutral"), said plainly
    return f"The user's {dimension or 'speaking style'} is {style}."


@register_system("cascade")
class CascadeSystem:
    """ASR -> text LLM -> TTS, style-blind (the paper's baseline) or told the query's style (its topline).

    Args:
        asr (`str`): a transformers speech recogniser (Hub id or path), e.g. `"openai/whisper-large-v3"`.
        llm (`str`): a local chat LLM (Hub id or path), or with `llm_api_base` the model name sent to that endpoint.
        tts (`str`, *optional*, defaults to `"espeak-ng"`): a renderer name (`parass2s_hf.render.RENDERERS`).
        labelled (`bool`, *optional*, defaults to `False`): tell the LLM the query's true style and have it choose
            the reply style (`[style: ...]`); otherwise the reply is spoken neutrally.
        llm_api_base (`str`, *optional*): an OpenAI-compatible endpoint for the LLM (extra `api`).
        llm_api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding that
            endpoint's key (never stored in `config()`).
        temperature (`float`, *optional*, defaults to `0.0`): `0` decodes greedily; above `0` samples, seeded from
            `seed`, the sample index and the row id, so that each sample is reproducible.
        max_new_tokens (`int`, *optional*, defaults to `128`): the reply's token budget.
        seed (`int`, *optional*, defaults to `0`): base seed of sampling.
        batch_size (`int`, *optional*, defaults to `8`): clips per ASR call, prompts per LLM call (requests in flight
            for an endpoint).
        torch_dtype (`str`, *optional*, defaults to `"auto"`): dtype of the local models.
        device_map (`str`, *optional*): passed to `from_pretrained` (e.g. `"auto"`); CPU when `None`.
        tts_kwargs (`dict`, *optional*): arguments of the renderer.
        asr_max_new_tokens (`int`, *optional*, defaults to `128`): the transcript's token budget.
        voice_key (`str`, *optional*, defaults to `"assistant"`): the renderer's voice key; one key gives the system
            one voice across all replies.
        render_workers (`int`, *optional*): replies spoken at once (the cores of this process when unset; 1 in turn);
            the audio and its order do not change.

    Attributes:
        timings (`collections.Counter`): seconds spent per stage (`"asr"`, `"llm"`, `"tts"`) over all calls.
        stats (`collections.Counter`): reply-tag outcomes of the labelled mode (`"ok"`, `"missing_tag"`,
            `"unknown_style"`; the last two are spoken neutrally), `"no_style_label"` rows, and `"llm_error"`s.
    """

    name = "cascade"

    def __init__(self, asr: str, llm: str, tts: str = "espeak-ng", labelled: bool = False,
                 llm_api_base: str | None = None, llm_api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.0,
                 max_new_tokens: int = 128, seed: int = 0, batch_size: int = 8, torch_dtype: str = "auto",
                 device_map: str | None = None, tts_kwargs: dict | None = None, asr_max_new_tokens: int = 128,
                 voice_key: str = "assistant", render_workers: int | None = None):
        from ..models import LoadSettings
        from ..models.preflight import check_model
        from ..render import get_renderer

        if temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or more, got {temperature!r}.")
        for name, value in (("max_new_tokens", max_new_tokens), ("batch_size", batch_size),
                            ("asr_max_new_tokens", asr_max_new_tokens)):
            if int(value) < 1:
                raise ValueError(f"{name} must be at least 1, got {value!r}.")
        self.asr_id = asr
        self.llm_id = llm
        self.tts = tts
        self.labelled = bool(labelled)
        self.llm_api_base = llm_api_base
        self.temperature = float(temperature)
        self.max_new_tokens = max_new_tokens
        self.seed = seed
        self.batch_size = batch_size
        self.torch_dtype = torch_dtype
        self.tts_kwargs = dict(tts_kwargs or {})
        self.voice_key = voice_key
        self.asr_max_new_tokens = asr_max_new_tokens
        self.render_workers = render_workers  # speed only: not part of config() (the audio is the same)
        self.system_prompt = LABELLED_SYSTEM_PROMPT if self.labelled else BLIND_SYSTEM_PROMPT

        self.renderer = get_renderer(tts, **self.tts_kwargs)  # first: cheap, and an unknown name fails at once
        # The models load on the first query (a finished run's rerun loads none); what they are is checked now, from
        # their config files only, so a wrong or missing checkpoint is an error here, not on every row.
        self._settings = LoadSettings(torch_dtype=torch_dtype, device_map=device_map, batch_size=batch_size)
        check_model("asr", asr, "asr")
        self._asr = self._llm = None
        if llm_api_base:
            from ..models import openai_client

            self.client = openai_client(llm_api_base, llm_api_key_env, f"The cascade's LLM endpoint ({llm})")
        else:
            check_model("llm", llm, "text_llm")
            self.client = None
        self.timings = Counter()
        self.stats = Counter()

    @property
    def asr(self):
        """The speech recogniser (`models.ASRBackend`), loaded on first use; its budget is capped at Whisper's
        positions."""
        if self._asr is None:
            from ..models import ASRBackend

            self._asr = ASRBackend(self.asr_id, self._settings, max_new_tokens=self.asr_max_new_tokens)
        return self._asr

    @asr.setter
    def asr(self, backend):  # a ready backend (shared with another system, or scripted in tests)
        self._asr = backend

    @property
    def llm(self):
        """The local chat LLM (`models.TextLLMBackend`), loaded on first use; `None` with an endpoint."""
        if self._llm is None and self.client is None:
            from ..models import TextLLMBackend

            self._llm = TextLLMBackend(self.llm_id, self._settings, role="llm")
        return self._llm

    @llm.setter
    def llm(self, backend):
        self._llm = backend

    def config(self) -> dict:
        config = {"asr": self.asr_id, "asr_max_new_tokens": self.asr_max_new_tokens, "llm": self.llm_id,
                  "llm_api_base": self.llm_api_base, "tts": self.tts, "tts_kwargs": self.tts_kwargs,
                  "voice_key": self.voice_key, "labelled": self.labelled, "system_prompt": self.system_prompt,
                  "temperature": self.temperature, "max_new_tokens": self.max_new_tokens,
                  "torch_dtype": self.torch_dtype}
        if self.temperature > 0:  # the seed changes nothing under greedy decoding
            config["seed"] = self.seed
        return config

    def messages(self, row: dict, transcript: str) -> list[dict]:
        """The chat sent to the LLM for one row."""
        if not self.labelled:
            return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": transcript}]
        hint = style_hint(row.get("dimension"), row.get("style"))
        if hint is None:
            self.stats["no_style_label"] += 1
            return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": transcript}]
        return [{"role": "system", "content": self.system_prompt},
                {"role": "user", "content": f"{hint}\nWhat the user said: {transcript}"}]

    def respond(self, rows: Sequence[dict], sample_index: int = 0) -> list[S2SResponse]:
        rows = list(rows)
        start = time.perf_counter()
        transcripts = self.asr.transcribe([load_audio(r["audio"], name=str(r["id"])).array for r in rows])
        self.timings["asr"] += time.perf_counter() - start

        start = time.perf_counter()
        seeds = [row_seed(self.seed, sample_index, str(r["id"])) for r in rows]
        replies = self._generate([self.messages(r, t) for r, t in zip(rows, transcripts)], seeds)
        self.timings["llm"] += time.perf_counter() - start

        from ..render.parallel import render_all

        start = time.perf_counter()  # the replies are spoken by a pool of workers, in order (renders are deterministic)
        out = render_all(self.renderer, list(zip(transcripts, replies)), self._speak, self.render_workers)
        self.timings["tts"] += time.perf_counter() - start
        return out

    # ---- stages ----

    def _generate(self, messages: list[list[dict]], seeds: list[int]) -> list[tuple[str | None, str | None]]:
        """(reply, error) per chat. A local model's failure fails the batch; an endpoint's is that row's error."""
        if self.client is not None:
            workers = min(self.batch_size, max(1, len(messages)))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return list(pool.map(self._api_reply, messages, seeds))
        if self.temperature == 0:
            return [(g.text, None) for g in self.llm.generate(messages, self.max_new_tokens)]
        import torch

        replies = []
        for chat, seed in zip(messages, seeds):
            # one row at a time: a seeded batch would make a row's sample depend on its batch mates
            torch.manual_seed(seed)
            [g] = self.llm.generate([chat], self.max_new_tokens, do_sample=True, temperature=self.temperature)
            replies.append((g.text, None))
        return replies

    def _api_reply(self, chat: list[dict], seed: int) -> tuple[str | None, str | None]:
        kwargs = {"model": self.llm_id, "messages": chat, "max_tokens": self.max_new_tokens,
                  "temperature": self.temperature}
        if self.temperature > 0:
            kwargs["seed"] = seed
        try:
            out = self.client.chat.completions.create(**kwargs)
        except Exception as e:  # noqa: BLE001 - after the client's retries, the row's failure
            self.stats["llm_error"] += 1
            return None, f"llm: {type(e).__name__}: {e}"
        return (out.choices[0].message.content or "").strip(), None

    def _speak(self, transcript: str, reply: tuple[str | None, str | None]) -> S2SResponse:
        from ..render import parse_reply

        raw, error = reply
        info = {"transcript": transcript, "llm_reply": raw}
        if error is not None:
            return S2SResponse(None, None, error=error, info=info)
        style, text = parse_reply(raw, self.stats) if self.labelled else ("neutral", raw.strip())
        info["reply_style"] = style
        if not text:  # said nothing: an empty response, which the runner scores as the system's failure
            return S2SResponse(np.zeros(0, np.float32), SAMPLING_RATE, text="", info=info)
        try:
            clip = self.renderer.render(text, style, self.voice_key)
        except Exception as e:  # noqa: BLE001 - e.g. a reply too long for the audio door: this row's failure
            return S2SResponse(None, None, text=text, error=f"tts: {type(e).__name__}: {e}", info=info)
        return S2SResponse(clip.array, clip.sampling_rate, text=text, info=info)
