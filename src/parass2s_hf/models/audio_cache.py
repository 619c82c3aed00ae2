"""The frozen audio tower, run once per distinct clip: per prompt in a GRPO step, per query in a judge's batch.

In ParaS2SAlign the audio tower is frozen (LoRA reaches the language model only), so its output for a spoken prompt
is the same in generation, in the old-policy and reference log-probs and in the loss: TRL's forwards would otherwise
re-encode every row, G times per prompt, in each of them. `AudioTowerCache` wraps the tower's `forward`: each row of
`input_features` (one clip) is keyed by its content and mask, computed once, and served from the cache afterwards.
The projector after the tower runs as before (it may be trained). The judge's in-process audio LLM (reward model,
end-to-end, tone) uses the same cache within each batch: a GRPO group's query clip is encoded once for its responses.

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

    def __init__(self, tower: torch.nn.Module, max_entries: int | None = None):
        from collections import OrderedDict

        self.tower = tower
        self.original = tower.forward
        self.max_entries = max_entries
        self.cache: OrderedDict[str, torch.Tensor] = OrderedDict()  # least recently used first
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
    def install(cls, model, sharded: bool = False, inference: bool = False,
                max_entries: int | None = None) -> AudioTowerCache | None:
        """Wrap the model's audio tower; `None` (nothing changed) when there is none, its parameters are `sharded`,
        or (unless `inference`: a model that only ever runs under `torch.inference_mode`) any of them is trainable.
        `max_entries` bounds the clips kept (least recently used dropped first; `None`: until `clear()`)."""
        tower = cls.find_tower(model)
        if tower is None or sharded or (not inference and any(p.requires_grad for p in tower.parameters())):
            return None
        if getattr(tower, "_parass2s_cache", None) is not None:
            return tower._parass2s_cache  # already installed
        cache = cls(tower, max_entries)
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

        hidden = torch.cat([self.cache[key] for key in keys], dim=0)
        for key in keys:
            self.cache.move_to_end(key)
        while self.max_entries is not None and len(self.cache) > self.max_entries:
            self.cache.popitem(last=False)
        return BaseModelOutput(last_hidden_state=hidden)
