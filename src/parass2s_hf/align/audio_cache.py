"""The frozen audio tower, run once per distinct prompt in a GRPO step.

In ParaS2SAlign the audio tower is frozen (LoRA reaches the language model only), so its output for a spoken prompt
is the same in generation, in the old-policy and reference log-probs and in the loss: TRL's forwards would otherwise
re-encode every row, G times per prompt, in each of them. `AudioTowerCache` wraps the tower's `forward`: each row of
`input_features` (one clip) is keyed by its content and mask, computed once, and served from the cache afterwards.
The projector after the tower runs as before (it may be trained).

It is off, and the tower runs as usual, when the tower has a trainable parameter (a config that unfreezes it) or when
its parameters are sharded (FSDP, DeepSpeed ZeRO-3), which this cache has not been run with.
"""

from __future__ import annotations

import hashlib

import torch


class AudioTowerCache:
    """Install with `AudioTowerCache.install(model)`; `clear()` drops the cached rows (the trainer does so for every
    new generation batch).

    Attributes:
        rows_computed (`int`): clips the tower actually encoded.
        rows_served (`int`): clips served from the cache.
    """

    def __init__(self, tower: torch.nn.Module):
        self.tower = tower
        self.original = tower.forward
        self.cache: dict[str, torch.Tensor] = {}
        self.rows_computed = self.rows_served = 0
        tower.forward = self.forward  # an instance attribute: nn.Module.__call__ calls it

    @staticmethod
    def find_tower(model) -> torch.nn.Module | None:
        """The model's `audio_tower` module (through PEFT and DDP wrappers), or `None`."""
        for name, module in model.named_modules():
            if name.split(".")[-1] == "audio_tower":
                return module
        return None

    @classmethod
    def install(cls, model, sharded: bool = False) -> AudioTowerCache | None:
        """Wrap the model's audio tower; `None` (nothing changed) when there is none, any of its parameters is
        trainable, or its parameters are `sharded`."""
        tower = cls.find_tower(model)
        if tower is None or sharded or any(p.requires_grad for p in tower.parameters()):
            return None
        if getattr(tower, "_parass2s_cache", None) is not None:
            return tower._parass2s_cache  # already installed
        cache = cls(tower)
        tower._parass2s_cache = cache
        return cache

    def uninstall(self) -> None:
        self.tower.forward = self.original
        self.tower._parass2s_cache = None

    def clear(self) -> None:
        self.cache.clear()

    @staticmethod
    def _key(features: torch.Tensor, mask: torch.Tensor | None) -> str:
        digest = hashlib.sha1(features.detach().float().cpu().numpy().tobytes())
        if mask is not None:
            digest.update(mask.detach().cpu().numpy().tobytes())
        return digest.hexdigest()

    def forward(self, input_features, attention_mask=None, **kwargs):
        if kwargs or input_features.dim() != 3:  # a call this cache does not know: run the tower as is
            return self.original(input_features, attention_mask=attention_mask, **kwargs)
        rows = input_features.shape[0]
        masks = [attention_mask[i:i + 1] if attention_mask is not None else None for i in range(rows)]
        keys = [self._key(input_features[i], masks[i]) for i in range(rows)]
        todo, pending = [], set()  # the first row of each clip not cached yet
        for i, key in enumerate(keys):
            if key not in self.cache and key not in pending:
                todo.append(i)
                pending.add(key)
        if todo:
            index = torch.tensor(todo, device=input_features.device)
            sub_mask = attention_mask.index_select(0, index) if attention_mask is not None else None
            with torch.no_grad():
                out = self.original(input_features.index_select(0, index), attention_mask=sub_mask)
            for k, i in enumerate(todo):
                self.cache[keys[i]] = out.last_hidden_state[k:k + 1].detach()
            self.rows_computed += len(todo)
        self.rows_served += rows - len(todo)
        from transformers.modeling_outputs import BaseModelOutput

        return BaseModelOutput(last_hidden_state=torch.cat([self.cache[key] for key in keys], dim=0))
