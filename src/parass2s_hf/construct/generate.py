"""The generate stage (paper Part 1, step 1): an LLM writes candidate records in the text layer's format.

```python
>>> from parass2s_hf.construct import WorkDir
>>> from parass2s_hf.construct.generate import GenerateConfig, run_generate
>>> from parass2s_hf.construct.llm import make_llm
>>> run_generate(WorkDir("work/emo"), GenerateConfig(dimension="emotion", n=500), make_llm("Qwen/Qwen2.5-7B-Instruct"))
{'stage': 'generate', 'in': 531, 'out': 500, 'dropped': {'style cue': 17, 'near-duplicate': 9, ...}, ...}
```

Each LLM call is asked for `per_call` records on one topic seed (and, for benchmark and sft, a pair of contrasting
styles per record, balanced across the dimension's styles). Every candidate, a record the answer holds or an answer
that holds no JSON, ends as one line of `generated.jsonl`: kept (`"status": "ok"`, a text-layer record with its id,
pair id, split and topic) or dropped with its reason, `"<kind>: <detail>"`. The kinds, which `summary.json` counts:

- `llm error`: the endpoint failed after its retries (no retry here: the next call asks again);
- `unparseable output`: the answer held no JSON array of records; retried with the error fed back, up to
  `max_retries` times;
- `invalid record`: a field missing or wrong (`bench.text_lint.check_record`: styles of the dimension, two different
  styles, reply styles in `constants.REPLY_STYLES`, 3-30 words, ...); `style cue`: the words give the style away
  (`text_lint.style_cues`); `near-duplicate`: word-set Jaccard >= 0.7 with a kept text. Replacements are asked for,
  with the problems fed back, up to `max_retries` times;
- `surplus`: a valid record beyond the `n` asked for.

The stage stops when `n` records are kept, or after `4 * ceil(remaining / per_call) + 10` calls in one run (with a
warning); a rerun continues from what the file holds. Topics, not records, are assigned to the splits (the first
`round(test_fraction * len(topics))` topics in an order hashed from the topic and the seed go to test), so the splits
are topic-disjoint.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
import math
import os
from collections import Counter
from dataclasses import dataclass, field

from ..bench.text_lint import MAX_JACCARD, MAX_WORDS, MIN_WORDS, check_record, jaccard, normalise, style_cues, word_set
from ..constants import DIMENSIONS, STYLES
from .llm import BuildLLM
from .prompts import DEFAULT_TOPICS, OutputParseError, extract_json, generation_feedback, generation_messages
from .workdir import MODES, StageSummary, WorkDir

logger = logging.getLogger(__name__)

LLM_ERROR = "llm error"
UNPARSEABLE = "unparseable output"
INVALID = "invalid record"
STYLE_CUE = "style cue"
NEAR_DUPLICATE = "near-duplicate"
SURPLUS = "surplus"
CANDIDATE_FIELDS = {"benchmark": ("scenario", "text", "styles", "per_style"),
                    "sft": ("scenario", "text", "styles", "per_style"),
                    "polytone": ("scenario", "text")}
"""The fields the LLM writes per record, by mode (id, pair id, split, dimension and topic are assigned here)."""
AVOID_SHOWN = 8
"""Kept texts of the same topic shown to the LLM as ones not to repeat."""
MAX_ERROR_ROUNDS = 3
"""Rounds in a row in which every call failed (endpoint errors) before the stage stops."""


def reason_kind(reason: str) -> str:
    """The kind of a drop reason `"<kind>: <detail>"`, which `summary.json` counts."""
    return reason.split(":", 1)[0].strip() or "unknown"


@dataclass
class GenerateConfig:
    """Settings of the generate stage.

    Args:
        dimension (`str`): one of `"emotion"`, `"sarcasm"`, `"age"`, `"gender"`.
        n (`int`): records to keep.
        mode (`str`, *optional*, defaults to `"benchmark"`): `"benchmark"` (a text and two contrasting styles with a
            requirement and reference reply each), `"polytone"` (neutral texts, said in every style of the dimension)
            or `"sft"` (as benchmark; its replies become spoken demonstrations).
        topics (`list[str]`, *optional*): topic seeds; defaults to `prompts.DEFAULT_TOPICS`.
        test_fraction (`float`, *optional*, defaults to `0.75`): share of the topics assigned to the test split.
        per_call (`int`, *optional*, defaults to `5`): records asked for per LLM call.
        max_retries (`int`, *optional*, defaults to `2`): retries of a call whose answer was unparseable or held
            rejected records, with the problems fed back.
        max_new_tokens (`int`, *optional*, defaults to `1024`): token budget of one answer.
        seed (`int`, *optional*, defaults to `0`): seed of the topic split and order.
    """

    dimension: str = field(metadata={"help": "The dimension: emotion, sarcasm, age or gender."})
    n: int = field(metadata={"help": "Records to keep."})
    mode: str = field(default="benchmark", metadata={"help": f"One of {list(MODES)}."})
    topics: list[str] | None = field(default=None, metadata={
        "help": "Topic seeds (default: a built-in list of everyday topics). Topics are assigned to splits."})
    test_fraction: float = field(default=0.75, metadata={"help": "Share of the topics assigned to the test split."})
    per_call: int = field(default=5, metadata={"help": "Records asked for per LLM call."})
    max_retries: int = field(default=2, metadata={
        "help": "Retries of a call whose answer was unparseable or held rejected records (problems fed back)."})
    max_new_tokens: int = field(default=1024, metadata={"help": "Token budget of one LLM answer."})
    seed: int = field(default=0, metadata={"help": "Seed of the topic split and order."})

    def __post_init__(self):
        if self.dimension not in DIMENSIONS:
            raise ValueError(f"Unknown dimension {self.dimension!r}; expected one of {list(DIMENSIONS)}.")
        if self.mode not in MODES:
            raise ValueError(f"Unknown mode {self.mode!r}; expected one of {list(MODES)}.")
        for name in ("n", "per_call", "max_new_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number of at least 1, got {value!r}.")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be a whole number of 0 or more, got {self.max_retries!r}.")
        if not 0.0 <= float(self.test_fraction) <= 1.0:
            raise ValueError(f"test_fraction must be from 0 to 1, got {self.test_fraction!r}.")
        topics = list(DEFAULT_TOPICS) if self.topics is None else self.topics
        if isinstance(topics, str):
            topics = [t.strip() for t in topics.split(",")]
        topics = list(topics)
        if not topics or any(not isinstance(t, str) or not t.strip() for t in topics):
            raise ValueError(f"topics must be a non-empty list of non-empty strings, got {self.topics!r}.")
        topics = [t.strip() for t in topics]
        repeated = sorted(t for t, c in Counter(topics).items() if c > 1)
        if repeated:
            raise ValueError(f"topics must be different from each other; repeated: {repeated}.")
        self.topics = topics


def _hash(*parts) -> str:
    return hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()


def assign_splits(topics: list[str], test_fraction: float, seed: int = 0) -> dict[str, str]:
    """Topic -> `"test"` or `"train"`: topics ordered by a hash of (seed, topic), the first
    `round(test_fraction * len(topics))` to test (at least one to each split when there are two or more topics and
    `0 < test_fraction < 1`)."""
    order = sorted(topics, key=lambda t: _hash(seed, "split", t))
    n_test = round(test_fraction * len(order))
    if len(order) >= 2 and 0 < test_fraction < 1:
        n_test = min(max(n_test, 1), len(order) - 1)
    return {t: ("test" if i < n_test else "train") for i, t in enumerate(order)}


def parse_records(text: str) -> list:
    """The candidates of a generate answer: a JSON array (also inside a code fence, or as `{"records": [...]}`, or one
    record object).

    Raises:
        `OutputParseError`: no JSON, or no records in it.
    """
    value = extract_json(text)
    if isinstance(value, dict):
        for key in ("records", "items", "data"):
            if isinstance(value.get(key), list):
                value = value[key]
                break
        else:
            if "text" in value:
                value = [value]
            else:
                raise OutputParseError(f"expected a JSON array of records, got an object with keys {sorted(value)[:8]}")
    if not isinstance(value, list):
        raise OutputParseError(f"expected a JSON array of records, got {type(value).__name__}")
    if not value:
        raise OutputParseError("the JSON array holds no records")
    return value


def check_candidate(candidate, dimension: str, mode: str, kept: list[tuple[str, frozenset]]) -> tuple[dict, str]:
    """`(fields, reason)` of one candidate: its record fields (as given, for the line) and `""` when it is fine, else
    `"<kind>: <detail>"`. `kept` holds (id, word set) of the kept texts, for near-duplicates."""
    if not isinstance(candidate, dict):
        return {}, f"{INVALID}: expected a JSON object, got {type(candidate).__name__} {str(candidate)[:60]!r}"
    names = CANDIDATE_FIELDS[mode]
    fields = {k: candidate[k] for k in names if k in candidate}
    missing = [k for k in names if k not in candidate]
    if missing:
        return fields, f"{INVALID}: missing field(s) {missing}"
    for name in ("scenario", "text"):
        if not isinstance(fields[name], str) or not fields[name].strip():
            return fields, f"{INVALID}: {name!r} must be a non-empty string, got {fields[name]!r}"
    text = fields["text"] = " ".join(fields["text"].split())
    fields["scenario"] = fields["scenario"].strip()
    if mode == "polytone":
        fields["styles"], fields["per_style"] = list(STYLES[dimension]), {}
        n_words = len(normalise(text).split())
        problems = [] if MIN_WORDS <= n_words <= MAX_WORDS else [
            f"text has {n_words} words, expected {MIN_WORDS}-{MAX_WORDS}"]
    else:
        styles, per_style = fields["styles"], fields["per_style"]
        if not isinstance(styles, list) or not all(isinstance(s, str) for s in styles):
            return fields, f"{INVALID}: 'styles' must be a list of two style names, got {styles!r}"
        if not isinstance(per_style, dict) or not all(isinstance(v, dict) for v in per_style.values()):
            return fields, f"{INVALID}: 'per_style' must map each style to an object, got {str(per_style)[:80]!r}"
        record = {"id": "candidate", "pair_id": "candidate", "split": "test", "dimension": dimension,
                  "topic": "topic", **fields}
        problems = [p.removeprefix("candidate: ") for p in check_record(record) if "text reveals the" not in p]
    if problems:
        return fields, f"{INVALID}: " + "; ".join(problems)
    cues = style_cues(text, dimension)
    if cues:
        return fields, f"{STYLE_CUE}: the words reveal the {dimension} style through {cues}"
    words = word_set(text)
    for kept_id, kept_words in kept:
        score = jaccard(words, kept_words)
        if score >= MAX_JACCARD:
            return fields, f"{NEAR_DUPLICATE}: word-set Jaccard {score:.2f} with {kept_id}"
    return fields, ""


def _ids_downstream(work: WorkDir) -> set[str]:
    """The record ids the filter and render files of `work` name (read leniently: a damaged line there is for those
    stages to report, and only costs this stage an id it could have used)."""
    ids = set()
    for stage, key in (("filter", "id"), ("render", "record_id")):
        if not os.path.exists(work.file(stage)):
            continue
        with open(work.file(stage), encoding="utf-8", errors="replace") as f:
            for text in f:
                try:
                    value = json.loads(text).get(key)
                except (ValueError, AttributeError):
                    continue
                if isinstance(value, str):
                    ids.add(value)
    return ids


@dataclass
class _Job:
    """One chat with the LLM: what it asks for, and how many answers it has had."""

    conversation: list[dict]
    topic: str
    count: int
    pairs: list[tuple[str, str]] | None
    attempt: int = 0


class _Generator:
    def __init__(self, work: WorkDir, config: GenerateConfig, llm: BuildLLM):
        self.work = work
        self.config = config
        self.llm = llm
        self.log = work.log("generate")
        self.dim, self.mode = config.dimension, config.mode
        self.splits = assign_splits(config.topics, config.test_fraction, config.seed)
        self.topic_rank = {t: i for i, t in enumerate(sorted(config.topics, key=lambda t: _hash(config.seed, "order", t)))}
        self.pairs = list(itertools.combinations(STYLES[self.dim], 2))
        self.kept: list[tuple[str, frozenset]] = []
        self.kept_texts: dict[str, list[str]] = {}
        self.next_k = Counter()
        self.n_dropped = 0
        self.topic_use = Counter()
        self.style_use = Counter()
        self.pair_use = Counter()
        self.lines = work.read("generate")
        # ids are never given twice: not those in the file, nor those the later stages know (a record whose line
        # --repair moved away may have filter verdicts and clips: a new record under its id would inherit them)
        self.used_ids = {line["id"] for line in self.lines} | _ids_downstream(work)
        for line in self.lines:
            self.topic_use[line.get("topic")] += 1
            if line.get("status") == "ok":
                self._count_kept(line)
            else:
                self.n_dropped += 1

    def _count_kept(self, line: dict) -> None:
        self.kept.append((line["id"], word_set(line["text"])))
        self.kept_texts.setdefault(line.get("topic"), []).append(line["text"])
        self.next_k[line["split"]] += 1
        if self.mode != "polytone":
            self.style_use.update(line["styles"])
            self.pair_use[tuple(sorted(line["styles"]))] += 1

    # ---- planning ----
    def _plan_pairs(self, count: int, planned_styles: Counter, planned_pairs: Counter) -> list[tuple[str, str]] | None:
        if self.mode == "polytone":
            return None
        out = []
        for _ in range(count):
            def cost(pair, i):
                a, b = pair
                use = self.style_use + planned_styles
                return (use[a] + use[b], (self.pair_use + planned_pairs)[tuple(sorted(pair))], i)

            pair = min(((p, i) for i, p in enumerate(self.pairs)), key=lambda x: cost(*x))[0]
            planned_styles.update(pair)
            planned_pairs[tuple(sorted(pair))] += 1
            out.append(pair)
        return out

    def _new_job(self, count: int, planned_topics: Counter, planned_styles: Counter, planned_pairs: Counter) -> _Job:
        topic = min(self.config.topics, key=lambda t: (self.topic_use[t] + planned_topics[t], self.topic_rank[t]))
        planned_topics[topic] += count
        pairs = self._plan_pairs(count, planned_styles, planned_pairs)
        avoid = self.kept_texts.get(topic, [])[-AVOID_SHOWN:]
        return _Job(generation_messages(self.dim, self.mode, topic, count, pairs, avoid), topic, count, pairs)

    # ---- lines ----
    def _new_id(self, prefix: str, k: int) -> str:
        """`<prefix>-<k>` (4 digits), or the first free one after it."""
        while f"{prefix}-{k:04d}" in self.used_ids:
            k += 1
        self.used_ids.add(f"{prefix}-{k:04d}")
        return f"{prefix}-{k:04d}"

    def _keep(self, fields: dict, topic: str) -> dict:
        split = self.splits[topic]
        record_id = self._new_id(f"{self.dim}-{split}", self.next_k[split] + 1)
        line = {"id": record_id, "pair_id": record_id, "split": split, "dimension": self.dim, "topic": topic,
                "scenario": fields["scenario"], "text": fields["text"], "styles": list(fields["styles"]),
                "per_style": fields["per_style"], "status": "ok", "reason": ""}
        self.log.append(line)
        self.topic_use[topic] += 1
        self._count_kept(line)
        return line

    def _drop(self, topic: str, reason: str, fields: dict | None = None, output: str | None = None) -> None:
        self.n_dropped += 1
        line = {"id": self._new_id(f"{self.dim}-dropped", self.n_dropped), "split": self.splits[topic],
                "dimension": self.dim, "topic": topic, **(fields or {}), "status": "dropped", "reason": reason}
        if output is not None:
            line["output"] = output[:4000]
        self.log.append(line)
        self.topic_use[topic] += 1

    # ---- answers ----
    def _retry(self, job: _Job, answer: str, problem: str, count: int, pairs) -> _Job | None:
        if job.attempt >= self.config.max_retries or count < 1:
            return None
        conversation = job.conversation + [{"role": "assistant", "content": answer},
                                           {"role": "user", "content": generation_feedback(problem, count, pairs,
                                                                                           self.mode)}]
        return _Job(conversation, job.topic, count, pairs, job.attempt + 1)

    def handle(self, job: _Job, answer) -> _Job | None:
        """Record the candidates of one answer; the retry chat to send next, if any."""
        if isinstance(answer, BaseException):
            self._drop(job.topic, f"{LLM_ERROR}: {type(answer).__name__}: {answer}")
            return None
        try:
            candidates = parse_records(answer)
        except OutputParseError as e:
            self._drop(job.topic, f"{UNPARSEABLE}: {e}", output=answer)
            return self._retry(job, answer, f"Your answer could not be read: {e}.", job.count, job.pairs)
        rejected = []
        for i, candidate in enumerate(candidates):
            fields, reason = check_candidate(candidate, self.dim, self.mode, self.kept)
            if reason:
                self._drop(job.topic, reason, fields)
                rejected.append((i, reason))
            elif len(self.kept) >= self.config.n:
                self._drop(job.topic, f"{SURPLUS}: {self.config.n} records already kept", fields)
            else:
                self._keep(fields, job.topic)
        if not rejected:
            return None
        count = min(len(rejected), self.config.n - len(self.kept))
        pairs = None if job.pairs is None else [job.pairs[i % len(job.pairs)] for i, _ in rejected][:count]
        problem = "These items were not accepted:\n" + "\n".join(f"- item {i + 1}: {r}" for i, r in rejected)
        return self._retry(job, answer, problem, count, pairs)

    # ---- the loop ----
    def run(self) -> int:
        from ..progress import progress

        config, n = self.config, self.config.n
        remaining = max(0, n - len(self.kept))
        max_calls = 4 * math.ceil(remaining / config.per_call) + 10 if remaining else 0
        batch = max(1, int(getattr(self.llm, "batch_size", 8) or 8))
        pending: list[_Job] = []
        calls = error_rounds = 0
        bar = progress(total=n, initial=len(self.kept), desc=f"generate {self.dim}", unit="record",
                       dynamic_ncols=True, off=remaining == 0)
        try:
            while len(self.kept) < n and calls < max_calls:
                need = n - len(self.kept)
                jobs, pending = pending[:batch], pending[batch:]
                asked = sum(j.count for j in jobs) + sum(j.count for j in pending)
                planned_topics = Counter()
                planned_styles = Counter()
                planned_pairs = Counter()
                while len(jobs) < batch and asked < need:
                    count = min(config.per_call, need - asked)
                    jobs.append(self._new_job(count, planned_topics, planned_styles, planned_pairs))
                    asked += count
                jobs = jobs[:max_calls - calls]
                if not jobs:
                    break
                answers = self.llm.complete([j.conversation for j in jobs], config.max_new_tokens)
                if len(answers) != len(jobs):
                    raise RuntimeError(f"the LLM returned {len(answers)} answers for {len(jobs)} chats")
                calls += len(jobs)
                before = len(self.kept)
                for job, answer in zip(jobs, answers):
                    retry = self.handle(job, answer)
                    if retry is not None:
                        pending.append(retry)
                bar.update(len(self.kept) - before)
                bar.set_postfix(dropped=self.n_dropped, calls=calls)
                error_rounds = error_rounds + 1 if all(isinstance(a, BaseException) for a in answers) else 0
                if error_rounds >= MAX_ERROR_ROUNDS:
                    logger.warning("generate: every LLM call failed in %d rounds in a row; stopping (the errors are "
                                   "recorded in %s).", error_rounds, self.work.file("generate"))
                    break
        finally:
            bar.close()
        if len(self.kept) < n:
            dropped = Counter(reason_kind(line.get("reason") or "") for line in self.work.read("generate")
                              if line.get("status") != "ok")
            logger.warning("generate: %d of %d records kept after %d LLM calls in this run (limit %d); dropped so far: "
                           "%s. Rerun to continue; the reasons are in %s.", len(self.kept), n, calls, max_calls,
                           dict(dropped), self.work.file("generate"))
        return calls


def run_generate(work: WorkDir, config: GenerateConfig, llm: BuildLLM | None = None, *,
                 overwrite: bool = False, repair: bool = False) -> dict:
    """Ask `llm` for records until `config.n` are kept in `work`'s `generated.jsonl` (resumable).

    Args:
        work (`WorkDir`): the build's work folder.
        config (`GenerateConfig`): the stage's settings.
        llm (`BuildLLM`): the LLM (`llm.make_llm`).
        overwrite (`bool`, *optional*, defaults to `False`): redo the stage (and drop the later stages' output) when
            the folder holds a generate run with other settings; otherwise such a folder is refused.
        repair (`bool`, *optional*, defaults to `False`): move the damaged lines of the stage files read here (not
            JSON, or a record without the fields the stages need) to `<file>.rejected`, keep the rest and redo their
            items, instead of refusing them (see `WorkDir`).

    Returns:
        `dict`: the stage summary: `in` = candidates produced (records the answers held, plus answers that held
        none), `out` = records kept, `dropped` = the rest by reason kind, `already_done` = lines from earlier runs.
    """
    if llm is None:
        raise ValueError("run_generate needs an LLM: pass llm=make_llm(<model>) (see parass2s_hf.construct.llm).")
    work = work.repairing(repair)
    work.begin("generate", {**dataclasses.asdict(config), "llm": getattr(llm, "name", type(llm).__name__)},
               overwrite=overwrite)
    generator = _Generator(work, config, llm)
    already = len(generator.lines)
    generator.run()
    lines = work.read("generate")
    summary = StageSummary("generate", items_in=len(lines), skipped_done=already,
                           items_out=sum(1 for line in lines if line.get("status") == "ok"),
                           dropped=Counter(reason_kind(line.get("reason") or "") for line in lines
                                           if line.get("status") != "ok"))
    return work.record_summary(summary)
