"""A ParaS2SAlign policy as a system under test: the base audio LLM, the SFT model, or a base with a GRPO adapter.

The policy hears the query with the very prompt and chat template of training (`align.prompts.encode_policy_prompt`),
answers `[style: <reply style>] <words>`, and the renderer of training speaks the words in that style with the voice
of training (`align.reward.speak_reply`): for the same completion, the response audio is the one the GRPO reward
judged. The prompt, renderer, voice and token budget come from the `parass2s_policy.json` training wrote beside the
weights (the adapter's folder first, then the model's); arguments given here override them.

```python
>>> system = build_system("policy", model="runs/sft/merged", adapter="runs/grpo")   # SFT base + GRPO LoRA
>>> [response] = system.respond([row])
>>> response.text, response.info["reply_style"]
('Oh no, I am so sorry to hear that.', 'sympathetic')
```
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..audio import load_audio
from ..models.generation import expected_generation_notes
from .base import S2SResponse, register_system
from .cascade import row_seed

DEFAULT_MAX_NEW_TOKENS = 128
"""The reply's token budget when training left none: the GRPO recipes' `max_completion_length`."""


@register_system("policy")
class PolicySystem:
    """A policy trained here (or its base), heard and spoken as in training.

    Args:
        model (`str`): the policy's checkpoint: a base audio LLM (e.g. `Qwen/Qwen2-Audio-7B-Instruct`), the SFT model
            merged into it (`runs/sft/merged`), or the base of `adapter`.
        adapter (`str`, *optional*): a PEFT adapter on top (a GRPO run's `output_dir`).
        system_prompt (`str`, *optional*): the policy's system prompt; training's when unset (else
            `POLICY_SYSTEM_PROMPT`). `""` sends none.
        renderer (`str`, *optional*): what speaks the replies; training's when unset (else `"espeak-ng"`).
        renderer_kwargs (`dict`, *optional*): its arguments; training's when unset.
        voice_key (`str`, *optional*): the renderer's voice key; training's when unset (else `"assistant"`).
        max_new_tokens (`int`, *optional*): the reply's token budget; training's `max_completion_length` when unset
            (else 128).
        temperature (`float`, *optional*, defaults to `0.0`): `0` decodes greedily (a benchmark's default); above it
            samples (with `num_samples > 1`), seeded per row and sample.
        top_p (`float`, *optional*, defaults to `1.0`), top_k (`int`, *optional*, defaults to `0`): sampling filters.
        seed (`int`, *optional*, defaults to `0`): base of every batch's seed.
        batch_size (`int`, *optional*, defaults to `8`): queries per `generate` call.
        torch_dtype (`str`, *optional*, defaults to `"auto"`), device_map (`str`, *optional*), load_in_4bit
            (`bool`, *optional*), trust_remote_code (`bool`, *optional*): how the model loads.
    """

    name = "policy"

    def __init__(self, model: str, adapter: str | None = None, system_prompt: str | None = None,
                 renderer: str | None = None, renderer_kwargs: dict | None = None, voice_key: str | None = None,
                 max_new_tokens: int | None = None, temperature: float = 0.0, top_p: float = 1.0, top_k: int = 0,
                 seed: int = 0, batch_size: int = 8, torch_dtype: str = "auto", device_map: str | None = None,
                 load_in_4bit: bool = False, trust_remote_code: bool = False):
        from ..align.policy_settings import read_policy_settings
        from ..align.prompts import POLICY_SYSTEM_PROMPT

        if temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or more, got {temperature!r}.")
        trained = read_policy_settings(adapter, model)
        self.settings_source = trained.get("source")

        def pick(given, key, default):
            return given if given is not None else trained.get(key) if trained.get(key) is not None else default

        self.model_id, self.adapter = model, adapter
        self.system_prompt = pick(system_prompt, "system_prompt", POLICY_SYSTEM_PROMPT) or None
        self.renderer_name = pick(renderer, "renderer", "espeak-ng")
        self.renderer_kwargs = dict(pick(renderer_kwargs, "renderer_kwargs", {}))
        self.voice_key = pick(voice_key, "voice_key", "assistant")
        self.max_new_tokens = int(pick(max_new_tokens, "max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.top_k = int(top_k or 0)
        self.seed, self.batch_size = seed, batch_size
        if self.max_new_tokens < 1 or int(batch_size) < 1:
            raise ValueError(f"max_new_tokens and batch_size must be at least 1, got {self.max_new_tokens!r} and "
                             f"{batch_size!r}.")
        self._load = {"torch_dtype": torch_dtype, "device_map": device_map, "load_in_4bit": load_in_4bit,
                      "trust_remote_code": trust_remote_code}
        from ..render import get_renderer

        self.renderer = get_renderer(self.renderer_name, **self.renderer_kwargs)  # cheap; a bad name fails now
        self._backend = None
        self.reply_styles = Counter()

    def config(self) -> dict:
        return {"model": self.model_id, "adapter": self.adapter, "system_prompt": self.system_prompt,
                "renderer": self.renderer_name, "renderer_kwargs": self.renderer_kwargs, "voice_key": self.voice_key,
                "max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "top_p": self.top_p,
                "top_k": self.top_k, "seed": self.seed, "load_in_4bit": self._load["load_in_4bit"]}

    @property
    def backend(self):
        """The model, processor and adapter, loaded on first use (a finished run's rerun loads nothing)."""
        if self._backend is None:
            from ..models import AudioLLMBackend, LoadSettings

            settings = LoadSettings(torch_dtype=self._load["torch_dtype"], device_map=self._load["device_map"],
                                    load_in_4bit=self._load["load_in_4bit"],
                                    trust_remote_code=self._load["trust_remote_code"], batch_size=self.batch_size)
            self._backend = AudioLLMBackend(self.model_id, settings, role="--model", adapter=self.adapter)
        return self._backend

    def completions(self, rows: Sequence[dict], sample_index: int = 0) -> list[str]:
        """The policy's raw completions (`[style: ...] words`) for rows, decoded as TRL decodes them."""
        import torch

        from ..align.prompts import encode_policy_prompt, policy_prompt
        from ..models.local import collate, model_device

        backend = self.backend
        conversation = policy_prompt(self.system_prompt)
        out = []
        for start in range(0, len(rows), self.batch_size):
            batch = list(rows[start:start + self.batch_size])
            parts = [encode_policy_prompt(backend.processor, load_audio(row["audio"], name=str(row["id"])).array,
                                          conversation) for row in batch]
            inputs = collate(parts, backend.tokenizer.pad_token_id)
            device = model_device(backend.model)
            inputs = {k: (v.to(device, backend.model.dtype) if v.is_floating_point() else v.to(device))
                      for k, v in inputs.items()}
            kwargs = {"max_new_tokens": self.max_new_tokens, "do_sample": self.temperature > 0}
            if self.temperature > 0:
                kwargs.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
                torch.manual_seed(row_seed(self.seed, sample_index, "|".join(str(r["id"]) for r in batch)))
            with torch.inference_mode(), expected_generation_notes():
                sequences = backend.model.generate(**inputs, **kwargs)
            backend._encoded()  # the tower cache holds one batch's clips only
            out += backend.tokenizer.batch_decode(sequences[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return out

    def speak(self, completion: str) -> S2SResponse:
        """The spoken response of one completion, as the GRPO reward speaks it; a reply with no words is an empty
        response (the minimum score, as its reward is)."""
        from ..align.reward import has_words, speak_reply
        from ..render import parse_reply

        style, text = parse_reply(completion, self.reply_styles)
        info = {"reply_style": style, "completion": completion}
        if not has_words(text):
            return S2SResponse(np.zeros(0, np.float32), 16000, text=text, info=info)
        try:
            audio = speak_reply(self.renderer, style, text, self.voice_key)
        except Exception as e:  # noqa: BLE001 - one reply the renderer cannot speak is that item's error
            return S2SResponse(None, None, text=text, error=f"render failed: {type(e).__name__}: {e}", info=info)
        return S2SResponse(audio.array, audio.sampling_rate, text=text, info=info)

    def respond(self, rows: Sequence[dict], sample_index: int = 0) -> list[S2SResponse]:
        from ..render.parallel import render_all

        # the replies of a batch are spoken by a pool of workers, in order (as the GRPO reward speaks them)
        return render_all(self.renderer, [(c,) for c in self.completions(list(rows), sample_index)], self.speak)
