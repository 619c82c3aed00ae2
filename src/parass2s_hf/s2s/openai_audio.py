"""An OpenAI-compatible audio chat endpoint as a system under test (GPT-4o audio, or a server speaking its API).

Each query is sent as a base64 WAV `input_audio` part with `modalities=["text", "audio"]`; the reply's
`message.audio.data` (base64 WAV) is the response and `message.audio.transcript` its text.

```python
>>> system = build_system("openai-audio", model="gpt-4o-audio-preview", voice="alloy")   # key in OPENAI_API_KEY
>>> [response] = system.respond([row])
>>> response.sampling_rate, response.text
(24000, "Oh no, I'm sorry to hear that...")
```
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..audio import load_audio
from ..constants import SAMPLING_RATE
from ..models import openai_client, wav_base64
from .base import S2SResponse, register_system


@register_system("openai-audio")
class OpenAIAudioSystem:
    """A speech-to-speech chat model behind an OpenAI-compatible `/chat/completions` endpoint (extra `api`).

    Args:
        model (`str`, *optional*, defaults to `"gpt-4o-audio-preview"`): the model name sent to the endpoint.
        api_base (`str`, *optional*): the endpoint's base URL (e.g. `"http://localhost:8000/v1"`); `None` for OpenAI.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding the key,
            read once here. The key is never stored in `config()`.
        voice (`str`, *optional*, defaults to `"alloy"`): the reply voice.
        system_prompt (`str`, *optional*): a system message before the spoken query; none by default.
        temperature (`float`, *optional*): sampling temperature; the endpoint's default when `None`.
        seed (`int`, *optional*): when set, each request carries a seed derived from it, the sample index and the
            row id (best-effort reproducibility, as far as the endpoint honours `seed`).
        max_retries (`int`, *optional*, defaults to `3`): retries of a failed request, with exponential backoff, before
            the row is returned with its `error`.
        timeout (`float`, *optional*, defaults to `120`): seconds per request.
        max_workers (`int`, *optional*, defaults to `4`): requests in flight at once.

    Raises:
        `ImportError`: the `openai` client is missing (`pip install 'parass2s_hf[api]'`).
        `ValueError`: the key's environment variable is unset, or a bad setting.
    """

    name = "openai-audio"

    def __init__(self, model: str = "gpt-4o-audio-preview", api_base: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", voice: str = "alloy", system_prompt: str | None = None,
                 temperature: float | None = None, seed: int | None = None, max_retries: int = 3,
                 timeout: float = 120, max_workers: int = 4):
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers!r}.")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries!r}.")
        self.model = model
        self.api_base = api_base
        self.voice = voice
        self.system_prompt = system_prompt
        self.temperature = temperature
        self.seed = seed
        self.max_workers = max_workers
        self.client = openai_client(api_base, api_key_env, f"The openai-audio system ({model})", max_retries, timeout)

    def config(self) -> dict:
        return {"model": self.model, "api_base": self.api_base, "voice": self.voice,
                "system_prompt": self.system_prompt, "temperature": self.temperature, "seed": self.seed}

    def request(self, row: dict, sample_index: int = 0) -> dict:
        """The `chat.completions.create` arguments for one row (the query as a base64 16 kHz WAV)."""
        clip = load_audio(row["audio"], name=str(row.get("id", "<query>")))
        messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
        messages.append({"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": wav_base64(clip.array, SAMPLING_RATE), "format": "wav"}},
        ]})
        kwargs = {"model": self.model, "modalities": ["text", "audio"], "audio": {"voice": self.voice, "format": "wav"},
                  "messages": messages}
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if self.seed is not None:
            from .cascade import row_seed

            kwargs["seed"] = row_seed(self.seed, sample_index, str(row.get("id", "")))
        return kwargs

    def _one(self, row: dict, sample_index: int) -> S2SResponse:
        import soundfile as sf

        try:
            # the client retries connection errors, 408/429 and 5xx itself, with exponential backoff
            out = self.client.chat.completions.create(**self.request(row, sample_index))
            message = out.choices[0].message
            audio = getattr(message, "audio", None)
            if audio is None or audio.data is None:
                return S2SResponse(None, None, text=message.content,
                                   error=f"the endpoint returned no audio (text: {(message.content or '')[:80]!r})")
            data = base64.b64decode(audio.data)
            if not data:
                return S2SResponse(np.zeros(0, np.float32), SAMPLING_RATE, text=audio.transcript or "")
            samples, rate = sf.read(io.BytesIO(data), dtype="float32")
        except Exception as e:  # noqa: BLE001 - any failure is this row's, recorded by the runner
            return S2SResponse(None, None, error=f"{type(e).__name__}: {e}")
        return S2SResponse(samples, int(rate), text=audio.transcript, info={"response_id": out.id})

    def respond(self, rows: Sequence[dict], sample_index: int = 0) -> list[S2SResponse]:
        rows = list(rows)
        with ThreadPoolExecutor(max_workers=min(self.max_workers, max(1, len(rows)))) as pool:
            return list(pool.map(lambda row: self._one(row, sample_index), rows))
