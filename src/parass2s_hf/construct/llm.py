"""The text LLM of the generate and filter stages: a local transformers chat model or an OpenAI-compatible endpoint.

Both answer a batch of chats with one string per chat. An endpoint's failure, after the client's own retries with
exponential backoff, comes back in place of that chat's answer as the exception (never raised), so a stage records
it as that item's reason and goes on; a local model's failure raises (it is a broken set-up, not one bad item).

```python
>>> llm = make_llm("Qwen/Qwen2.5-7B-Instruct")                                    # local, transformers
>>> llm = make_llm("gpt-4.1", api_base="https://api.openai.com/v1")               # key in OPENAI_API_KEY
>>> llm.complete([[{"role": "user", "content": "Say hi."}]], max_new_tokens=8)
['Hi!']
```
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, runtime_checkable

logger = logging.getLogger(__name__)


@runtime_checkable
class BuildLLM(Protocol):
    """What the generate and filter stages need from an LLM.

    Attributes:
        name (`str`): the model's name, recorded in the stage's settings (`build.json`).
    """

    name: str

    def complete(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str | Exception]:
        """One answer per chat (a list of `{"role", "content"}` messages): the text, or the exception an endpoint
        raised after its retries."""
        ...


def _seed_for(seed: int, call: int, conversation: Sequence[dict]) -> int:
    """A 31-bit seed from the base seed, the call number and the chat: the same chat in the same call samples alike."""
    digest = hashlib.sha256(f"{seed}:{call}:{conversation!r}".encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


class LocalChatLLM:
    """A transformers chat model (Hub id or folder), batched; samples at `temperature` (greedy at 0), seeded.

    Args:
        model (`str`): a chat checkpoint (Hub id or local folder) with a chat template.
        temperature (`float`, *optional*, defaults to `0.7`): sampling temperature; `0` decodes greedily.
        seed (`int`, *optional*, defaults to `0`): base seed; each call seeds torch from it and the call number.
        batch_size (`int`, *optional*, defaults to `8`): chats per `generate` call.
        torch_dtype (`str`, *optional*, defaults to `"auto"`), device_map (`str`, *optional*),
        trust_remote_code (`bool`, *optional*), load_in_4bit (`bool`, *optional*): loading options.

    Raises:
        `ValueError`: `model` is neither a local folder nor a model the Hub (or its offline cache) has, or it has no
            chat template.
    """

    def __init__(self, model: str, temperature: float = 0.7, seed: int = 0, batch_size: int = 8,
                 torch_dtype: str = "auto", device_map: str | None = None, trust_remote_code: bool = False,
                 load_in_4bit: bool = False):
        from ..models import LoadSettings, TextLLMBackend

        self.name = model
        self.temperature = float(temperature)
        self.seed = seed
        self.batch_size = batch_size
        settings = LoadSettings(torch_dtype=torch_dtype, device_map=device_map, load_in_4bit=load_in_4bit,
                                trust_remote_code=trust_remote_code, batch_size=batch_size)
        if os.path.isdir(model) and not os.path.isfile(os.path.join(model, "config.json")):
            raise ValueError(f"--llm {model!r} is a folder but not a transformers model (no config.json in it).")
        try:
            self.backend = TextLLMBackend(model, settings, role="--llm")
        except OSError as e:
            raise ValueError(
                f"--llm {model!r}: no such local model folder, and not a model id the Hub (or its offline cache) "
                f"has ({type(e).__name__}). Pass a chat model's folder or Hub id, or, for an OpenAI-compatible "
                f"endpoint, its model name together with --llm_api_base.") from e
        self.calls = 0
        self.stats = Counter()

    def complete(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str | Exception]:
        import torch

        conversations = list(conversations)
        if not conversations:
            return []
        self.calls += 1
        if self.temperature <= 0:
            out = self.backend.generate(conversations, max_new_tokens)
        else:
            torch.manual_seed(_seed_for(self.seed, self.calls, conversations[0]))
            out = self.backend.generate(conversations, max_new_tokens, do_sample=True, temperature=self.temperature)
        self.stats.update(calls=1, conversations=len(conversations))
        return [g.text for g in out]


class EndpointChatLLM:
    """An OpenAI-compatible `/chat/completions` endpoint (OpenAI, vLLM, TGI, ...) through the `openai` client (extra
    `api`), requests in flight in parallel.

    Args:
        model (`str`): the model name sent to the endpoint.
        api_base (`str`, *optional*): the endpoint's base URL (e.g. `"http://localhost:8000/v1"`); `None` for OpenAI.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding the key,
            read once; the key is never logged or written.
        temperature (`float`, *optional*, defaults to `0.7`): sampling temperature.
        max_retries (`int`, *optional*, defaults to `3`): retries of a failed request with the client's exponential
            backoff; after them the exception is that chat's answer.
        seed (`int`, *optional*, defaults to `0`): each request carries a seed derived from it (best-effort).
        batch_size (`int`, *optional*, defaults to `8`): requests in flight at once.
        timeout (`float`, *optional*, defaults to `120`): seconds per request.
    """

    def __init__(self, model: str, api_base: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 temperature: float = 0.7, max_retries: int = 3, seed: int = 0, batch_size: int = 8,
                 timeout: float = 120.0):
        from ..models import openai_client

        self.name = model
        self.api_base = api_base
        self.temperature = float(temperature)
        self.seed, self.batch_size = seed, batch_size
        self.client = openai_client(api_base, api_key_env, f"The build LLM endpoint ({model})", max_retries, timeout)
        self.calls = 0
        self.stats = Counter()

    def _one(self, conversation: list[dict], max_new_tokens: int) -> str | Exception:
        kwargs = {"model": self.name, "messages": conversation, "max_tokens": max_new_tokens,
                  "temperature": self.temperature, "seed": _seed_for(self.seed, self.calls, conversation)}
        try:
            out = self.client.chat.completions.create(**kwargs)
            return out.choices[0].message.content or ""
        except Exception as e:  # noqa: BLE001 - after the client's retries: this chat's failure, recorded
            self.stats["errors"] += 1
            logger.warning("build LLM endpoint: %s: %s", type(e).__name__, e)
            return e

    def complete(self, conversations: list[list[dict]], max_new_tokens: int) -> list[str | Exception]:
        conversations = list(conversations)
        if not conversations:
            return []
        self.calls += 1
        with ThreadPoolExecutor(max_workers=min(self.batch_size, len(conversations))) as pool:
            out = list(pool.map(lambda c: self._one(c, max_new_tokens), conversations))
        self.stats.update(calls=1, conversations=len(conversations))
        return out


def make_llm(model: str, api_base: str | None = None, api_key_env: str = "OPENAI_API_KEY", temperature: float = 0.7,
             max_retries: int = 3, seed: int = 0, batch_size: int = 8, **local_kwargs) -> BuildLLM:
    """The build's LLM: an endpoint when `api_base` is given, else a local transformers chat model.

    Args:
        model (`str`): a local chat model (Hub id or folder), or with `api_base` the model name sent to the endpoint.
        api_base (`str`, *optional*): an OpenAI-compatible endpoint's base URL.
        api_key_env (`str`, *optional*, defaults to `"OPENAI_API_KEY"`): the environment variable holding its key.
        temperature (`float`, *optional*, defaults to `0.7`): sampling temperature (`0`: greedy).
        max_retries (`int`, *optional*, defaults to `3`): an endpoint's retries of a failed request (exponential
            backoff) before the error is recorded.
        seed (`int`, *optional*, defaults to `0`): base seed of sampling.
        batch_size (`int`, *optional*, defaults to `8`): chats per local `generate` call, or requests in flight.
        **local_kwargs: `torch_dtype`, `device_map`, `trust_remote_code`, `load_in_4bit` of a local model.

    Raises:
        `ValueError`: a bad setting, an unknown local model, or an endpoint whose key variable is empty.
        `ImportError`: an endpoint without the `openai` client installed.
    """
    if not isinstance(model, str) or not model.strip():
        raise ValueError(f"--llm must name a model (a local chat model or an endpoint's model), got {model!r}.")
    if temperature < 0:
        raise ValueError(f"temperature must be 0 (greedy) or more, got {temperature!r}.")
    if max_retries < 0:
        raise ValueError(f"max_retries must be 0 or more, got {max_retries!r}.")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size!r}.")
    if api_base:
        if local_kwargs:
            raise ValueError(f"{sorted(local_kwargs)} only apply to a local model, not to the endpoint {api_base!r}.")
        return EndpointChatLLM(model, api_base, api_key_env, temperature, max_retries, seed, batch_size)
    return LocalChatLLM(model, temperature, seed, batch_size, **local_kwargs)
