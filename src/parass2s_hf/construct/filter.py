"""The filter stage (paper Part 1, step 2): three LLM tests of each generated record.

- neutrality: the words alone do not reveal the style;
- plausibility: the text is natural to say in each of its styles;
- relevance: the styles call for different replies (not applicable in polytone mode, which has no replies: recorded
  as passed, "not applicable (polytone)").

```python
>>> run_filter(WorkDir("work/emo"), FilterConfig(), make_llm("Qwen/Qwen2.5-7B-Instruct"))
{'stage': 'filter', 'in': 500, 'out': 431, 'dropped': {'failed neutrality': 52, 'failed relevance': 17}, ...}
```

Each test is one chat per record, asked in batches; the answer is `{"pass": bool, "reason": str}`. A line of
`filtered.jsonl` holds every verdict, and the record is kept iff all pass. Drop reasons (`"<kind>: <detail>"`):
`failed <test>[+<test>...]`, `unparseable verdict` (no verdict could be read after `max_retries` retries with the
error fed back), `llm error` (the endpoint failed after its retries). A rerun skips finished records, except those
dropped for an `llm error`, which are asked again (the endpoint may be back).
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from dataclasses import dataclass, field

from .generate import reason_kind
from .llm import BuildLLM
from .prompts import FILTER_TESTS, OutputParseError, extract_json, filter_feedback, filter_messages
from .workdir import StageSummary, WorkDir

logger = logging.getLogger(__name__)

LLM_ERROR, UNPARSEABLE = "llm error", "unparseable verdict"
NOT_APPLICABLE = {"pass": True, "reason": "not applicable (polytone)"}
_TRUE, _FALSE = ("true", "pass", "passed", "yes"), ("false", "fail", "failed", "no")


@dataclass
class FilterConfig:
    """Settings of the filter stage.

    Args:
        tests (`tuple[str, ...]`, *optional*, defaults to `("neutrality", "plausibility", "relevance")`): the tests
            to ask; a record is kept iff all pass.
        max_retries (`int`, *optional*, defaults to `2`): retries of a test whose answer held no readable verdict,
            with the error fed back.
        max_new_tokens (`int`, *optional*, defaults to `256`): token budget of one verdict.
    """

    tests: tuple[str, ...] = field(default=FILTER_TESTS, metadata={
        "help": f"The LLM tests to run, a subset of {list(FILTER_TESTS)}; a record is kept iff all pass."})
    max_retries: int = field(default=2, metadata={
        "help": "Retries of a test whose answer held no readable verdict (the error fed back)."})
    max_new_tokens: int = field(default=256, metadata={"help": "Token budget of one verdict."})

    def __post_init__(self):
        tests = self.tests
        if isinstance(tests, str):
            tests = [t.strip() for t in tests.split(",") if t.strip()]
        tests = tuple(tests)
        unknown = [t for t in tests if t not in FILTER_TESTS]
        if not tests or unknown or len(set(tests)) != len(tests):
            raise ValueError(f"tests must be different names from {list(FILTER_TESTS)}, at least one; got "
                             f"{list(self.tests) if not isinstance(self.tests, str) else self.tests!r}.")
        self.tests = tuple(t for t in FILTER_TESTS if t in tests)  # a fixed order: settings compare alike
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be a whole number of 0 or more, got {self.max_retries!r}.")
        if isinstance(self.max_new_tokens, bool) or not isinstance(self.max_new_tokens, int) or self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a whole number of at least 1, got {self.max_new_tokens!r}.")


def parse_verdict(text: str) -> dict:
    """`{"pass": bool, "reason": str}` from a filter answer (also in a code fence or among other text).

    Raises:
        `OutputParseError`: no JSON object with a boolean `pass`.
    """
    value = extract_json(text)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, dict) or "pass" not in value:
        raise OutputParseError(f'expected a JSON object with "pass" and "reason", got {str(value)[:80]!r}')
    verdict = value["pass"]
    if isinstance(verdict, str) and verdict.strip().lower() in _TRUE + _FALSE:
        verdict = verdict.strip().lower() in _TRUE
    if not isinstance(verdict, bool):
        raise OutputParseError(f'"pass" must be true or false, got {value["pass"]!r}')
    reason = value.get("reason", "")
    return {"pass": verdict, "reason": reason if isinstance(reason, str) else str(reason)}


def _outcome(verdicts: dict) -> tuple[str, str]:
    """(status, reason) of a record from its verdicts."""
    for kind in (LLM_ERROR, UNPARSEABLE):
        bad = [(t, v["reason"].split(": ", 1)[-1]) for t, v in verdicts.items()
               if v["pass"] is None and v["reason"].startswith(kind)]
        if bad:
            return "dropped", f"{kind}: " + "; ".join(f"{t}: {r}" for t, r in bad)
    failed = [(t, v["reason"]) for t, v in verdicts.items() if v["pass"] is False]
    if len(failed) == 1:
        return "dropped", f"failed {failed[0][0]}: {failed[0][1]}"
    if failed:
        return "dropped", f"failed {'+'.join(t for t, _ in failed)}: " + "; ".join(f"{t}: {r}" for t, r in failed)
    return "kept", ""


def _run_chunk(records: list[dict], config: FilterConfig, llm: BuildLLM, mode: str) -> list[dict]:
    """The filter lines of `records`: every test of every record asked, unreadable verdicts retried."""
    verdicts = {r["id"]: {} for r in records}
    jobs = []  # (record id, test, conversation, attempt)
    for record in records:
        for test in config.tests:
            if test == "relevance" and mode == "polytone":
                verdicts[record["id"]][test] = dict(NOT_APPLICABLE)
            else:
                jobs.append((record["id"], test, filter_messages(test, record, mode), 0))
    while jobs:
        answers = llm.complete([j[2] for j in jobs], config.max_new_tokens)
        if len(answers) != len(jobs):
            raise RuntimeError(f"the LLM returned {len(answers)} answers for {len(jobs)} chats")
        retry = []
        for (record_id, test, conversation, attempt), answer in zip(jobs, answers):
            if isinstance(answer, BaseException):
                verdicts[record_id][test] = {"pass": None, "reason": f"{LLM_ERROR}: {type(answer).__name__}: {answer}"}
                continue
            try:
                verdicts[record_id][test] = parse_verdict(answer)
            except OutputParseError as e:
                if attempt < config.max_retries:
                    retry.append((record_id, test, conversation + [
                        {"role": "assistant", "content": answer},
                        {"role": "user", "content": filter_feedback(str(e))}], attempt + 1))
                else:
                    verdicts[record_id][test] = {"pass": None, "reason": f"{UNPARSEABLE}: {e}"}
        jobs = retry
    lines = []
    for record in records:
        ordered = {t: verdicts[record["id"]][t] for t in config.tests}
        status, reason = _outcome(ordered)
        lines.append({"id": record["id"], "status": status, "reason": reason, "verdicts": ordered})
    return lines


def run_filter(work: WorkDir, config: FilterConfig, llm: BuildLLM | None = None, *, overwrite: bool = False,
               repair: bool = False) -> dict:
    """Ask `llm` each filter test about each kept generated record; write `filtered.jsonl` (resumable).

    Args:
        work (`WorkDir`): the build's work folder (after `build generate`).
        config (`FilterConfig`): the stage's settings.
        llm (`BuildLLM`): the LLM (`llm.make_llm`).
        overwrite (`bool`, *optional*, defaults to `False`): redo the stage (and drop the later stages' output) when
            the folder holds a filter run with other settings; otherwise such a folder is refused.
        repair (`bool`, *optional*, defaults to `False`): move the damaged lines of the stage files read here (not
            JSON, or a record without the fields the stages need) to `<file>.rejected`, keep the rest and redo their
            items, instead of refusing them (see `WorkDir`).

    Returns:
        `dict`: the stage summary: `in` = generated records with status ok, `out` = kept, `dropped` by reason kind
        (`failed neutrality`, `unparseable verdict`, `llm error`, ...), `already_done` = records finished earlier.
    """
    from ..progress import progress

    if llm is None:
        raise ValueError("run_filter needs an LLM: pass llm=make_llm(<model>) (see parass2s_hf.construct.llm).")
    work = work.repairing(repair)
    work.begin("filter", {**dataclasses.asdict(config), "llm": getattr(llm, "name", type(llm).__name__)},
               overwrite=overwrite)
    records = [r for r in work.require("generate") if r.get("status") == "ok"]
    mode = work.mode()
    done = {line["id"]: line for line in work.read("filter")}
    redo = {i for i, line in done.items() if line.get("status") == "dropped"
            and reason_kind(line.get("reason") or "") == LLM_ERROR}
    todo = [r for r in records if r["id"] not in done or r["id"] in redo]
    already = len(records) - len(todo)
    log = work.log("filter")
    chunk = max(1, int(getattr(llm, "batch_size", 8) or 8))
    with progress(total=len(records), initial=already, desc="filter", unit="record", dynamic_ncols=True,
                  off=not todo) as bar:
        for start in range(0, len(todo), chunk):
            for line in _run_chunk(todo[start:start + chunk], config, llm, mode):
                log.append(line)
                bar.update(1)
    final = {line["id"]: line for line in work.read("filter")}
    lines = [final[r["id"]] for r in records]
    summary = StageSummary("filter", items_in=len(records), skipped_done=already,
                           items_out=sum(1 for line in lines if line["status"] == "kept"),
                           dropped=Counter(reason_kind(line.get("reason") or "") for line in lines
                                           if line["status"] != "kept"))
    if redo:
        logger.info("filter: asked again about %d records dropped earlier for an llm error", len(redo & set(final)))
    return work.record_summary(summary)
