"""The ParaS2SAlign reward: speak each completion in its `[style: ...]` style, then judge (query audio, spoken reply).

A TRL reward function (`reward(prompts, completions, completion_ids, **columns) -> list[float | None]`): one batched
judge call per generation batch, every completion scored once. An empty reply is the policy's failure and gets the
minimum score, as in evaluation: a reply with no words (`[style: warm] ...`), and a rendered reply the judge finds
empty, silent or too short (status `empty_response`); a completion that cannot be rendered or judged gets `None` (a missing reward, counted by reason), which
`GRPOTrainer` leaves out of its group's mean and standard deviation and gives a zero advantage — never a 0 reward.

Beside the rewards it logs objective signals of the spoken replies per step (the means over the batch's rendered
completions, as `parass2s evaluate` measures them per response): `parass2s/signals/duration` (seconds) and
`parass2s/signals/silence_ratio` (the share that does not sound, by the audio door's rule), always; and, when asked
(`signals=["wer"]`: an ASR pass per completion, with the judge's `asr_model`), `parass2s/signals/wer`, the word error
rate of the transcript against the completion's words.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter, defaultdict
from typing import Any

import numpy as np

from ..audio import AudioError, load_audio, silence_ratio
from ..constants import DIMENSIONS, SAMPLING_RATE, SCORE_MIN, STYLES
from ..judge.items import SCORED_STATUSES, STATUS_EMPTY, JudgeItem
from ..render import get_renderer, parse_reply
from ..render.parallel import render_all
from ..wer import word_error_rate


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or a conversational list of messages (the assistant's contents)."""
    if isinstance(completion, str):
        return completion
    parts = []
    for message in completion:
        content = message.get("content", "")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        parts.append(content or "")
    return "".join(parts)


def has_words(text: str) -> bool:
    """Whether a reply has anything to say: one letter or digit (`""` and `"..."` are empty replies)."""
    return any(ch.isalnum() for ch in text)


REWARD_SIGNALS = ("wer",)
"""Signals the reward logs only when asked (each costs a model pass per completion); duration and silence ratio are
always logged."""


def speak_reply(renderer, style: str, text: str, voice_key: str = "assistant"):
    """The spoken reply: `text` rendered in `style` with the voice of `voice_key`. The GRPO reward and the `policy`
    system under test speak through here, so evaluation hears what the reward heard (a test checks the bytes)."""
    return renderer.render(text, style, voice_key)


class ParaS2SReward:
    """Reward function of `ParaS2SGRPOTrainer` (usable with any TRL trainer that passes dataset columns to rewards).

    Args:
        judge (`ParaS2SJudge`): the judge; `reward_model` mode is the paper's RL reward (one forward per completion).
        renderer (`Renderer` or `str`, *optional*, defaults to `"espeak-ng"`): speaks each reply in its style.
        audio_column (`str`, *optional*, defaults to `"audio"`): the column holding the spoken prompt.
        reward_field (`str`, *optional*, defaults to `"score_expected"`): the judge output used as reward.
        fallback_to_score (`bool`, *optional*, defaults to `True`): use the integer score where the expected one is
            missing.
        voice_key (`str`, *optional*, defaults to `"assistant"`): the renderer's voice key for every reply.
        renderer_kwargs (`dict`, *optional*): arguments of the renderer when given by name.
        render_workers (`int`, *optional*): replies spoken at once (`render.parallel.default_render_workers()`, the
            cores available to this process, when unset; 1 speaks them in turn). Order and audio do not change.
        signals (`Sequence[str]`, *optional*): signals to log beyond duration and silence ratio, from
            `REWARD_SIGNALS`: `"wer"` (the spoken reply transcribed, against its words).
        asr (*optional*): the speech recogniser of `"wer"` (`transcribe(arrays) -> list[str]`); the judge's `asr`
            (its `asr_model`) when unset.

    Attributes:
        missing (`Counter`): missing rewards by reason (`render_failed` (`talker_failed` for an Omni policy's
            `OmniSpeechReward`), `judge_missing`, `judge_invalid_input`, `invalid_prompt_audio`).
        empty (`Counter`): empty replies, scored the minimum, by kind (`no_words`: nothing to say; `empty_response`:
            the spoken reply is silent or too short, by the judge's rule).
        reply_styles (`Counter`): reply-tag outcomes from `parse_reply` (`ok`, `missing_tag`, `unknown_style`).
        timings (`Counter`): seconds spent rendering (`render`), judging (`judge`) and transcribing for the signals
            (`signals`).
    """

    __name__ = "parass2s_judge"  # TRL names the reward's metrics after it

    def __init__(self, judge, renderer="espeak-ng", *, audio_column: str = "audio", reward_field: str = "score_expected",
                 fallback_to_score: bool = True, voice_key: str = "assistant", renderer_kwargs: dict | None = None,
                 render_workers: int | None = None, signals=(), asr=None):
        self.judge = judge
        self.renderer = get_renderer(renderer, **(renderer_kwargs or {})) if isinstance(renderer, str) else renderer
        self.audio_column = audio_column
        self.reward_field = reward_field
        self.fallback_to_score = fallback_to_score
        self.voice_key = voice_key
        self.render_workers = render_workers
        self.signals = list(signals or ())
        unknown = [name for name in self.signals if name not in REWARD_SIGNALS]
        if unknown:
            raise ValueError(f"signals {unknown} not known; the reward logs duration and silence ratio always, and "
                             f"on request {list(REWARD_SIGNALS)}.")
        self._asr = asr
        self.missing = Counter()  # completions whose reward is missing, by reason
        self.empty = Counter()  # completions spoken as empty responses, by reason
        self.reply_styles = Counter()  # the reply styles the policy chose
        self.timings = Counter()  # seconds per stage of the last call (render, judge)

    def _queries(self, audios: list) -> list:
        """Each distinct prompt's audio loaded once (the G completions of a group share their prompt's audio)."""
        loaded, out = {}, []
        for audio in audios:
            key = id(audio)
            if key not in loaded:
                try:
                    loaded[key] = load_audio(audio, name="prompt audio").array
                except AudioError as e:
                    loaded[key] = e
            out.append(loaded[key])
        return out

    def __call__(self, prompts, completions, completion_ids=None, **columns) -> list[float | None]:
        n = len(completions)
        log_metric = columns.get("log_metric")
        audios = columns.get(self.audio_column)
        if audios is None:
            raise ValueError(f"The reward needs the spoken prompts in column {self.audio_column!r}; the batch has "
                             f"{sorted(k for k in columns if k not in ('trainer_state', 'log_extra', 'log_metric'))}.")
        queries = self._queries(list(audios))

        def column(name):
            values = columns.get(name)
            return list(values) if values is not None else [None] * n

        dimensions, styles = column("dimension"), column("style")
        texts, requirements = column("text"), column("requirement")
        rewards: list[float | None] = [None] * n
        items, index = [], []
        start = time.perf_counter()
        for i in range(n):
            if isinstance(queries[i], AudioError):
                self.missing["invalid_prompt_audio"] += 1
        replies, words = self._speak(completions, completion_ids, queries, rewards)
        for i in sorted(replies):
            reply = replies[i]
            if isinstance(reply, Exception):  # one completion's failure is a missing reward, not a crash
                self.missing[self.speak_failure] += 1
                continue
            dim = dimensions[i] if dimensions[i] in DIMENSIONS else None
            query_style = styles[i] if dim and styles[i] in STYLES[dim] else None
            items.append(JudgeItem(query_audio=queries[i], response_audio=reply.array, sampling_rate=reply.sampling_rate,
                                   dimension=dim, query_style=query_style, query_text=texts[i] or None,
                                   requirement=requirements[i] or None))
            index.append(i)
            self._heard(i, reply)
        self.timings["render"] += time.perf_counter() - start
        # measured only where they are logged: the WER costs an ASR pass per completion
        signals = self._signals([replies[i] for i in index], [words[i] for i in index]) if log_metric else {}
        start = time.perf_counter()
        for i, result in zip(index, self.judge.score(items) if items else []):
            value = getattr(result, self.reward_field)
            if value is None and self.fallback_to_score and result.score is not None:
                value = result.score
            if result.status == STATUS_EMPTY:
                self.empty["empty_response"] += 1
            if result.status not in SCORED_STATUSES or value is None:
                self.missing[f"judge_{result.status}"] += 1
                continue
            rewards[i] = float(value)
        self.timings["judge"] += time.perf_counter() - start
        if log_metric is not None:
            self._log(log_metric, rewards, dimensions)
            for name, value in signals.items():
                log_metric(f"parass2s/signals/{name}", value)
        return rewards

    speak_failure = "render_failed"
    """The missing-reward reason of a completion that could not be spoken."""

    def _speak(self, completions, completion_ids, queries, rewards) -> tuple[dict, dict]:
        """Each completion's spoken reply (or the exception that stopped it), by index, and its words. Completions
        with nothing to say get the minimum in `rewards` here; those whose prompt audio is unusable are skipped."""
        jobs, spoken, words = [], [], {}
        for i, completion in enumerate(completions):
            if isinstance(queries[i], AudioError):
                continue
            style, text = parse_reply(completion_text(completion), self.reply_styles)
            if not has_words(text):  # no words to say ("", "...") is an empty response
                rewards[i] = float(SCORE_MIN)
                self.empty["no_words"] += 1
                continue
            jobs.append((self.renderer, style, text, self.voice_key))
            spoken.append(i)
            words[i] = text
        # the replies of a batch are spoken by a pool of workers, in order (renders are deterministic)
        return dict(zip(spoken, render_all(self.renderer, jobs, speak_reply, self.render_workers))), words

    def _heard(self, index: int, reply) -> None:
        """Called with each reply handed to the judge (a hook: the Omni reward records its hash)."""

    @property
    def asr(self):
        """The speech recogniser of the `"wer"` signal: the one given, else the judge's (loaded on first use)."""
        if self._asr is None:
            self._asr = getattr(self.judge, "asr", None)
            if self._asr is None:
                raise ValueError("signals=['wer'] needs a speech recogniser: the judge has none (no `asr`); pass "
                                 "ParaS2SReward(..., asr=...).")
        return self._asr

    def _signals(self, replies: list, texts: list[str]) -> dict:
        """The batch's means of each signal over its spoken replies (none when nothing was spoken)."""
        if not replies:
            return {}
        durations = [reply.duration for reply in replies]
        # silence as `parass2s evaluate` measures it (audio.silence_ratio)
        silent = [x for x in (silence_ratio(r.array, r.sampling_rate) for r in replies) if x is not None]
        out = {"duration": float(np.mean(durations))}
        if silent:
            out["silence_ratio"] = float(np.mean(silent))
        if "wer" in self.signals:
            start = time.perf_counter()
            # at the audio door's 16 kHz (the renderer speaks it; a talker speaks 24 kHz)
            heard = self.asr.transcribe([r.array if r.sampling_rate == SAMPLING_RATE else
                                         load_audio(r.array, r.sampling_rate, max_seconds=None).array
                                         for r in replies])
            errors = [word_error_rate(text, t) for text, t in zip(texts, heard) if not isinstance(t, Exception)]
            self.timings["signals"] += time.perf_counter() - start
            if errors:
                out["wer"] = float(np.mean(errors))
        return out

    @staticmethod
    def _log(log_metric, rewards, dimensions) -> None:
        by_dim = defaultdict(list)
        for reward, dim in zip(rewards, dimensions):
            if reward is not None:
                by_dim[dim if dim in DIMENSIONS else "other"].append(reward)
        for dim, values in by_dim.items():
            log_metric(f"parass2s/reward/{dim}", float(np.mean(values)))
        log_metric("parass2s/missing_reward_frac", sum(r is None for r in rewards) / max(1, len(rewards)))


def prompt_key(audio) -> str:
    """A stable key of a prompt's audio (for caches): a hash of its samples."""
    return hashlib.sha1(np.ascontiguousarray(audio, dtype=np.float32).tobytes()).hexdigest()
