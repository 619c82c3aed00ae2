"""`ParaS2SJudge`: scores (query audio, response audio) pairs for content and speaking-style fit.

```python
>>> from parass2s_hf.judge import JudgeConfig, JudgeItem, ParaS2SJudge
>>> judge = ParaS2SJudge(JudgeConfig(mode="multistage"))            # Whisper + Qwen2-Audio + Qwen2.5 from the Hub
>>> [r] = judge.score([JudgeItem("query.wav", "reply.wav", dimension="emotion", query_style="sad")])
>>> r.score, r.score_expected, r.status, r.perception["response_tone"]
```

Modes (`JudgeConfig.mode`):
- `multistage` (the paper's best judge): perception per clip (ASR transcripts; the query's style from its label, a
  style analyzer, or the audio LLM choosing in the dimension's closed list; the response's tone described by the
  audio LLM told to ignore the words), then a rubric prompt to a text LLM;
- `end2end` (the paper's baseline): one audio LLM hears both clips and answers with the rubric;
- `reward_model`: one forward of an audio LLM over both clips; the score is the expected value over "1".."5".

A score that cannot be read is missing, with its reason, after `max_retries` stricter retries: never a default. A
response that is empty, silent or sounds for less than `min_response_seconds` is the system's failure: score 1, status
`empty_response`, in every mode, without a model call. A pair whose audio cannot be used is `invalid_input`; the other
pairs of the batch are scored as usual.

Ablations of the paper's Table 2 (`JudgeConfig`): `use_response_tone=False` is O1 (no response-style information;
the default `True` is O2), `query_labels="predicted"` is O5 (the query's style predicted even where a label exists).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

from ..audio import AudioError, load_audio
from ..constants import DIMENSIONS, SCORE_MIN, STYLES
from . import prompts
from .config import REWARD_MODEL_REPORT, JudgeConfig
from .items import (
    STATUS_EMPTY,
    STATUS_INVALID,
    STATUS_MISSING,
    STATUS_OK,
    JudgeItem,
    JudgeResult,
    empty_response_reason,
)
from .parsing import JudgeParseError, parse_judgement, parse_style
from .perception import PerceptionCache


def shown(value):
    """A perception value as a result shows it: `None` where its request failed (the reason says why)."""
    return None if isinstance(value, Exception) else value


def _name(backend) -> str:
    """What identifies a backend's outputs in perception cache keys."""
    return getattr(backend, "model_id", type(backend).__name__)


class ParaS2SJudge:
    """The ParaS2S judge.

    Args:
        config (`JudgeConfig`, *optional*): settings; the defaults are the multi-stage judge with Hub checkpoints.
        asr, audio_llm, rubric, reward (*optional*): ready backends to use instead of loading them from `config`
            (objects with the methods of `models.ASRBackend`, `AudioLLMBackend`, `TextLLMBackend`): how tests inject
            tiny or scripted models, and how one loaded model is shared between judges.
        style_analyzers (`dict`, *optional*): ready style analyzers per dimension.

    Models load lazily, on the first pair that needs them.
    """

    def __init__(self, config: JudgeConfig | None = None, *, asr=None, audio_llm=None, rubric=None, reward=None,
                 style_analyzers: Mapping | None = None):
        self.config = config or JudgeConfig()
        self._asr = asr
        self._audio_llm = audio_llm
        self._rubric = rubric
        self._reward = reward
        self._check_served(given={"asr": asr, "audio_llm": audio_llm, "rubric_model": rubric, "reward_model": reward})
        self._models_checked = False
        self._analyzers = dict(style_analyzers or {})
        self.cache = PerceptionCache(self.config.cache_dir)
        self.counts = Counter()
        self.timings = Counter()
        """Seconds spent per stage (`asr`, `tone`, `query_style`, `rubric`, `end2end`, `reward_model`), model loading
        included in the stage that first needs the model: how `benchmarks/` split a judgement's cost."""

    @contextmanager
    def _timed(self, stage: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[stage] += time.perf_counter() - start

    # ---- backends, loaded on first use ----
    def _served(self, kind: str, url: str, model: str, role: str):
        from .. import models

        cls = {"asr": models.ServedASR, "audio": models.ServedAudioLLM, "text": models.ServedTextLLM}[kind]
        extra = {} if kind == "asr" else {"role": role}
        return cls(url, model, self.config.load_settings(), api_key_env=self.config.api_key_env,
                   max_retries=self.config.api_max_retries, timeout=self.config.api_timeout, **extra)

    @property
    def asr(self):
        if self._asr is None:
            from ..models import ASRBackend

            cfg = self.config
            self._asr = (self._served("asr", cfg.asr_api_base, cfg.asr_model, "asr") if cfg.asr_api_base else
                         ASRBackend(cfg.asr_model, cfg.load_settings(), max_new_tokens=cfg.asr_max_new_tokens))
        return self._asr

    @property
    def audio_llm(self):
        if self._audio_llm is None:
            from ..models import AudioLLMBackend

            cfg = self.config
            self._audio_llm = (self._served("audio", cfg.audio_llm_api_base, cfg.audio_llm, "audio_llm")
                               if cfg.audio_llm_api_base else AudioLLMBackend(cfg.audio_llm, cfg.load_settings()))
        return self._audio_llm

    @property
    def rubric(self):
        if self._rubric is None:
            from ..models import TextLLMBackend

            cfg = self.config
            self._rubric = (self._served("text", cfg.rubric_api_base, cfg.rubric_model, "rubric_model")
                            if cfg.rubric_api_base else TextLLMBackend(cfg.rubric_model, cfg.load_settings()))
        return self._rubric

    @property
    def reward(self):
        if self._reward is None:
            from ..models import AudioLLMBackend

            cfg = self.config
            if cfg.reward_api_base:
                self._reward = self._served("audio", cfg.reward_api_base, cfg.reward_model or cfg.audio_llm,
                                            "reward_model")
            elif cfg.reward_model is None and cfg.reward_adapter is None and (self._audio_llm is not None
                                                                               or cfg.audio_llm_api_base):
                self._reward = self.audio_llm  # the audio LLM itself, local or served, is the reward model
            else:
                self._check_adapter_prompt(cfg.reward_adapter)
                self._reward = AudioLLMBackend(cfg.reward_model or cfg.audio_llm, cfg.load_settings(),
                                               role="reward_model", adapter=cfg.reward_adapter)
        return self._reward

    def _check_models(self) -> None:
        """Before the first model loads: every checkpoint this judge will load, checked from its config files
        (`models.preflight`), all problems in one `ValueError`, rather than a long `OSError` from the Hub client when
        the first stage starts. Backends given ready-made are not checked."""
        from ..models.preflight import judge_checks, preflight

        cfg, given = self.config, set()
        if self._asr is not None:
            given |= {"asr_model", "asr_api_base"}
        if self._audio_llm is not None:
            given |= {"audio_llm", "audio_llm_api_base"}
        if self._rubric is not None:
            given |= {"rubric_model", "rubric_api_base"}
        if self._reward is not None or (self._audio_llm is not None and cfg.reward_model is None
                                        and cfg.reward_adapter is None and not cfg.reward_api_base):
            given |= {"reward_model", "reward_api_base", "reward_adapter", "audio_llm", "audio_llm_api_base"}
        given |= {f"style_analyzers[{dimension}]" for dimension in self._analyzers}
        preflight([check for check in judge_checks(cfg, prefix="", probe=False) if check.setting not in given])

    def _check_served(self, given: dict) -> None:
        """A served stage needs the openai client and a key: say so now, before any clip is perceived."""
        from ..models import check_client, require_key

        served = {role: url for role, url in self.config.api_bases.items() if given.get(role) is None}
        if not served:
            return
        purpose = "The judge's served " + ", ".join(f"{role} ({url})" for role, url in served.items())
        check_client(purpose)
        require_key(self.config.api_key_env, purpose)

    def _check_adapter_prompt(self, adapter: str | None) -> None:
        """Refuse a distilled adapter trained on another reward prompt than this judge would give it (its report says
        which): it would be scored on a prompt it never saw."""
        path = os.path.join(adapter, REWARD_MODEL_REPORT) if adapter and os.path.isdir(adapter) else None
        if not path or not os.path.isfile(path):
            return
        with open(path, encoding="utf-8") as f:
            trained = (json.load(f).get("judge_config") or {}).get("reward_prompt_notes", False)
        if bool(trained) != self.config.reward_prompt_notes:
            raise ValueError(f"reward_adapter {adapter!r} was trained with reward_prompt_notes={bool(trained)} (its "
                             f"{REWARD_MODEL_REPORT}); set JudgeConfig(reward_prompt_notes={bool(trained)}) to score "
                             f"with the prompt it learnt.")

    def analyzer(self, dimension: str):
        if dimension not in self._analyzers and dimension in self.config.style_analyzers:
            from ..models import style_analyzer

            self._analyzers[dimension] = style_analyzer(self.config.style_analyzers[dimension], dimension,
                                                        self.config.load_settings())
        return self._analyzers.get(dimension)

    def stats(self) -> dict:
        """Model calls, inputs and encoded clips per loaded backend, and perception cache hits."""
        out = {"perception_cache_hits": self.cache.hits, **self.counts}
        for name, backend in (("asr", self._asr), ("audio_llm", self._audio_llm), ("rubric", self._rubric),
                              ("reward", self._reward), *((f"analyzer_{d}", a) for d, a in self._analyzers.items())):
            if backend is not None and hasattr(backend, "stats"):
                out[name] = dict(backend.stats)
        return out

    # ---- scoring ----
    def score(self, items: Sequence[JudgeItem | Mapping]) -> list[JudgeResult]:
        """Judge each pair; one `JudgeResult` per item, in order.

        Raises:
            `ValueError`: an unknown dimension, or a query style outside the item's dimension (naming the index).
            `JudgeParseError`: in strict mode, an answer without a readable score.
        """
        items = [self._check_item(i, item) for i, item in enumerate(items)]
        if not self._models_checked:
            self._check_models()
            self._models_checked = True
        results: list[JudgeResult | None] = [None] * len(items)
        clips = {}
        for i, item in enumerate(items):
            try:
                query = self._load(i, "query_audio", item.query_audio, item.sampling_rate)
                response = self._load(i, "response_audio", item.response_audio, item.sampling_rate)
            except AudioError as e:
                if e.source.startswith(f"pair {i}: response_audio") and e.problem.startswith("empty"):
                    results[i] = self._empty(item, e.problem)
                else:
                    results[i] = JudgeResult(status=STATUS_INVALID, reason=str(e), item_id=item.item_id)
                continue
            reason = empty_response_reason(response, self.config.min_response_seconds)
            if reason:
                results[i] = self._empty(item, reason)
                continue
            clips[i] = (query.array, response.array)
        valid = [i for i in range(len(items)) if results[i] is None]
        if valid:
            scorer = {"multistage": self._multistage, "end2end": self._end2end, "reward_model": self._reward_model}
            for i, result in zip(valid, scorer[self.config.mode]([items[i] for i in valid], [clips[i] for i in valid])):
                result.item_id = items[i].item_id
                results[i] = result
        self.counts.update(r.status for r in results)
        return results

    def compare(self, items: Sequence, *, tie_margin: float = 0.0) -> list:
        """Pairwise judging: which of two responses to each query fits better, asked in both orders
        (`judge.pairwise`). One `PairResult` per `PairItem` (or dict with its fields), in order.

        Args:
            items (`Sequence[PairItem | dict]`): each a query and two responses, `response_a` and `response_b`.
            tie_margin (`float`, *optional*, defaults to `0.0`): `reward_model` mode: expected scores within this
                margin of each other are a tie.

        Raises:
            `ValueError`: an unknown dimension, or a query style outside the item's dimension (naming the index).
            `JudgeParseError`: in strict mode, an answer without a readable verdict.
        """
        from .pairwise import compare

        return compare(self, items, tie_margin=tie_margin)

    def _load(self, index: int, which: str, audio, sampling_rate):
        path = f" {os.fspath(audio)}" if isinstance(audio, (str, os.PathLike)) else ""
        return load_audio(audio, sampling_rate, max_seconds=self.config.max_seconds, name=f"pair {index}: {which}{path}")

    @staticmethod
    def _empty(item: JudgeItem, reason: str) -> JudgeResult:
        """An empty response: the system's failure, scored the rubric's minimum without asking any model."""
        return JudgeResult(score=SCORE_MIN, score_expected=float(SCORE_MIN), status=STATUS_EMPTY, reason=reason,
                           item_id=item.item_id)

    @staticmethod
    def _check_item(index: int, item) -> JudgeItem:
        if isinstance(item, Mapping):
            try:
                item = JudgeItem(**item)
            except TypeError as e:
                raise ValueError(f"pair {index}: {e}") from None
        if not isinstance(item, JudgeItem):
            raise TypeError(f"pair {index}: expected a JudgeItem or a dict, got {type(item).__name__}")
        if item.dimension is not None and item.dimension not in DIMENSIONS:
            raise ValueError(f"pair {index}: unknown dimension {item.dimension!r}; expected one of {list(DIMENSIONS)}.")
        if item.query_style is not None:
            allowed = STYLES[item.dimension] if item.dimension else tuple(s for d in DIMENSIONS for s in STYLES[d])
            if item.query_style not in allowed:
                raise ValueError(f"pair {index}: query_style {item.query_style!r} is not one of {list(allowed)}.")
        return item

    def _read_with_retries(self, first: list, retry, parse) -> list[tuple]:
        """Read each generation with `parse` (a reasoning model's final answer only); re-ask the failures with the
        stricter prompt (`retry(indices)`) up to `max_retries` times. One `(generation, parsed or None, error)` per
        generation. A request that failed at its endpoint is not asked again: a stricter prompt would not help, and
        the client has retried it already."""
        gens = [g.final() for g in first]
        parsed: list = [None] * len(gens)
        errors = [""] * len(gens)
        todo = [i for i, g in enumerate(gens) if not g.error]
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                self.counts["retries"] += len(todo)
                for i, gen in zip(todo, retry(todo)):
                    gens[i] = gen.final()
            still = []
            for i in todo:
                if gens[i].error:
                    continue
                try:
                    parsed[i] = parse(gens[i].text)
                except JudgeParseError as e:
                    errors[i] = str(e)
                    still.append(i)
            todo = still
            if not todo:
                break
        return list(zip(gens, parsed, errors))

    def _missing(self, gen, error: str, what: str = "score") -> str:
        """Why a read failed (the endpoint's error, or no readable `what` in the answer); raises in strict mode."""
        if gen.error:
            return f"endpoint error: {gen.error}"
        reason = f"no {what} after {self.config.max_retries + 1} attempt(s): {error}"
        if self.config.strict:
            raise JudgeParseError(reason)
        return reason

    def _parse_with_retries(self, first: list, retry) -> list[JudgeResult]:
        """Parse each generation's score (`_read_with_retries` with `parse_judgement`); what still holds no score is
        missing (or raises in strict mode)."""
        results = []
        for gen, p, err in self._read_with_retries(first, retry, parse_judgement):
            if p is None:
                results.append(JudgeResult(status=STATUS_MISSING, reason=self._missing(gen, err),
                                           raw="" if gen.error else gen.text))
            else:
                expected = gen.expected_at(p.score_offset)
                results.append(JudgeResult(score=p.score, score_expected=expected, content_score=p.content_score,
                                           style_score=p.style_score, rationale=p.rationale, status=STATUS_OK,
                                           reason=f"no score_expected: {gen.note}" if expected is None and gen.note
                                           else "", raw=gen.text))
        return results

    def perceive(self, items: Sequence, queries: list, responses: list[tuple]) -> dict:
        """The multi-stage judge's perception of each item's query and of its response(s), every distinct clip once
        (`PerceptionCache`): `responses[i]` holds item `i`'s response clips (one for a score, two for a comparison).

        Returns:
            `dict` of per-item lists: `query_text`, `query_text_source`, `query_style`, `query_style_source`,
            `response_text` and `response_tone` (a tuple per item, one value per response clip; tones `None` with
            `use_response_tone=False`), and `failed` (item index -> why a perception request failed at its endpoint).
            A failed value is the `EndpointError`.
        """
        cfg = self.config
        width = len(responses[0]) if responses else 0
        flat = [clip for clips in responses for clip in clips]
        asr_stage = f"asr|{_name(self.asr)}|{cfg.asr_max_new_tokens}"
        need_query_text = [i for i, item in enumerate(items) if not item.query_text]
        with self._timed("asr"):
            transcripts = self.cache.run(asr_stage, flat + [queries[i] for i in need_query_text],
                                         lambda clips: self.asr.transcribe(clips))
        response_text = [tuple(transcripts[i * width:(i + 1) * width]) for i in range(len(items))]
        query_text = [item.query_text for item in items]
        for i, text in zip(need_query_text, transcripts[len(flat):]):
            query_text[i] = text

        tone = [(None,) * width for _ in items]  # O1: no response-style information, and no tone stage runs
        if cfg.use_response_tone:
            with self._timed("tone"):
                tones = self.cache.run(f"tone|{_name(self.audio_llm)}|{cfg.tone_max_new_tokens}", flat,
                                       self._describe_tone)
            tone = [tuple(tones[i * width:(i + 1) * width]) for i in range(len(items))]
        with self._timed("query_style"):
            query_style, style_source = self._query_styles(items, queries)

        # A perception request that failed at its endpoint makes that item's judgement missing; the others go on.
        failed = {}
        for i in range(len(items)):
            named = [("query transcript", query_text[i]), ("query style", query_style[i])]
            for k in range(width):
                which = "response" if width == 1 else f"response {'AB'[k] if width == 2 else k}"
                named += [(f"{which} transcript", response_text[i][k]), (f"{which} tone", tone[i][k])]
            for what, value in named:
                if isinstance(value, Exception) and i not in failed:
                    failed[i] = f"endpoint error ({what}): {value}"
        return {"query_text": query_text,
                "query_text_source": ["given" if item.query_text else "asr" for item in items],
                "query_style": query_style, "query_style_source": style_source, "query_style_given":
                [item.query_style for item in items], "response_text": response_text, "response_tone": tone,
                "failed": failed}

    def _multistage(self, items: list[JudgeItem], clips: list[tuple]) -> list[JudgeResult]:
        cfg = self.config
        seen = self.perceive(items, [q for q, _ in clips], [(r,) for _, r in clips])
        query_text, query_style = seen["query_text"], seen["query_style"]
        response_text = [t[0] for t in seen["response_text"]]
        tone = [t[0] for t in seen["response_tone"]]
        failed = seen["failed"]
        ready = [i for i in range(len(items)) if i not in failed]

        def messages(indices, retry=False):
            return [prompts.rubric_messages(query_text=query_text[i], query_style=query_style[i] or "unknown",
                                            dimension=items[i].dimension, response_text=response_text[i],
                                            response_tone=tone[i], requirement=items[i].requirement, retry=retry)
                    for i in indices]

        results: list = [None] * len(items)
        for i, reason in failed.items():
            results[i] = JudgeResult(status=STATUS_MISSING, reason=reason)
        if ready:
            with self._timed("rubric"):
                scored = self._parse_with_retries(
                    self.rubric.generate(messages(ready), cfg.rubric_max_new_tokens),
                    lambda idx: self.rubric.generate(messages([ready[k] for k in idx], retry=True),
                                                     cfg.rubric_max_new_tokens))
            for i, result in zip(ready, scored):
                results[i] = result

        for i, result in enumerate(results):
            result.perception = {"query_text": shown(query_text[i]),
                                 "query_text_source": seen["query_text_source"][i],
                                 "query_style": shown(query_style[i]),
                                 "query_style_source": seen["query_style_source"][i],
                                 "query_style_given": items[i].query_style,
                                 "response_text": shown(response_text[i]), "response_tone": shown(tone[i])}
        return results

    def _describe_tone(self, clips: list) -> list:
        """The audio LLM's description of each clip's tone (a reasoning model's final answer only), or the
        `EndpointError` of a served request that failed."""
        from ..models import EndpointError

        convs = [prompts.tone_conversation() for _ in clips]
        gens = self.audio_llm.generate(convs, [[c] for c in clips], self.config.tone_max_new_tokens)
        return [EndpointError(g.error) if g.error else g.final().text for g in gens]

    def _query_styles(self, items, queries) -> tuple[list, list]:
        from ..models import EndpointError

        styles, sources = [None] * len(items), [None] * len(items)
        by_route = {}
        use_labels = self.config.query_labels == "given"
        for i, item in enumerate(items):
            if item.query_style and use_labels:
                styles[i], sources[i] = item.query_style, "label"
            elif item.dimension and self.analyzer(item.dimension) is not None:
                by_route.setdefault(("analyzer", item.dimension), []).append(i)
            else:
                by_route.setdefault(("audio_llm", item.dimension), []).append(i)
        for (route, dim), idx in by_route.items():
            clips = [queries[i] for i in idx]
            if route == "analyzer":
                analyzer = self.analyzer(dim)
                found = self.cache.run(f"analyzer|{dim}|{_name(analyzer)}", clips, analyzer.classify)
            else:
                choices = prompts.style_choices(dim)

                def ask(batch, dim=dim, choices=choices):
                    gens = self.audio_llm.generate([prompts.style_conversation(dim) for _ in batch],
                                                   [[c] for c in batch], self.config.style_max_new_tokens)
                    return [EndpointError(g.error) if g.error else parse_style(g.final().text, choices) for g in gens]

                found = self.cache.run(f"style|{_name(self.audio_llm)}|{dim}|{self.config.style_max_new_tokens}",
                                       clips, ask)
                self.counts["query_style_unreadable"] += sum(f is None for f in found)
            for i, style in zip(idx, found):
                styles[i], sources[i] = style, route
        return styles, sources

    def _end2end(self, items: list[JudgeItem], clips: list[tuple]) -> list[JudgeResult]:
        audios = [[q, r] for q, r in clips]

        def convs(indices, retry=False):
            return [prompts.end2end_conversation(dimension=items[i].dimension, requirement=items[i].requirement,
                                                 retry=retry) for i in indices]

        everything = list(range(len(items)))
        with self._timed("end2end"):
            first = self.audio_llm.generate(convs(everything), audios, self.config.rubric_max_new_tokens)
            return self._parse_with_retries(
                first, lambda idx: self.audio_llm.generate(convs(idx, retry=True), [audios[i] for i in idx],
                                                           self.config.rubric_max_new_tokens))

    def _reward_model(self, items: list[JudgeItem], clips: list[tuple]) -> list[JudgeResult]:
        cfg = self.config
        convs = [prompts.reward_conversation(dimension=item.dimension, requirement=item.requirement,
                                             notes=cfg.reward_prompt_notes) for item in items]
        with self._timed("reward_model"):
            scored = self.reward.digit_scores(convs, [[q, r] for q, r in clips])
        results = []
        for value in scored:
            if isinstance(value, Exception):  # a served request that failed after its retries
                results.append(JudgeResult(status=STATUS_MISSING, reason=f"endpoint error: {value}"))
                continue
            expected, argmax, mass = value
            perception = {"digit_probability_mass": mass}
            if mass < cfg.min_digit_mass:
                # The model is not answering with a digit: an expected value over the digits would be noise.
                reason = (f"low_digit_mass: the digits 1-5 hold {mass:.1%} of the next-token probability, under "
                          f"min_digit_mass={cfg.min_digit_mass:g}")
                if cfg.strict:
                    raise JudgeParseError(reason)
                results.append(JudgeResult(status=STATUS_MISSING, reason=reason, perception=perception))
            else:
                results.append(JudgeResult(score=argmax, score_expected=expected, status=STATUS_OK,
                                           perception=perception))
        return results
