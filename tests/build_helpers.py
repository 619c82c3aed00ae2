"""Test helpers of the build pipeline: a scripted LLM and a local OpenAI-compatible server answering with it.

```python
from build_helpers import ScriptedLLM, serve_scripted_llm

llm = ScriptedLLM(bad_json_every=3, fail_filter={SCRIPTED_TEXTS[0]})
with serve_scripted_llm(ScriptedLLM(), fail_first=1) as base_url:   # e.g. parass2s build generate --llm scripted
    ...                                                             #      --llm_api_base base_url
```
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading

from http_stub import completion, serve_http

from parass2s_hf.bench.text_lint import CUE_LEXICON, jaccard, style_cues, word_set
from parass2s_hf.constants import STYLES

_SUBJECTS = (
    "the parcel from the post office", "the spare key for the back door", "the neighbour's ginger cat",
    "the train to the coast", "the blue umbrella", "the pasta sauce recipe", "the old radio in the kitchen",
    "the garden hose", "the library book about volcanoes", "the bus timetable", "the new kettle",
    "the tomato plants on the balcony", "the film on channel four", "the power cable for the laptop",
    "the football match on Sunday", "the jigsaw puzzle", "the card game from last night", "the bakery on the corner",
    "the paint for the fence", "the weather forecast for tomorrow",
)
_FRAMES = (
    "Someone moved {s} while I was out.", "I just heard that {s} is coming back on Tuesday.",
    "They said {s} will be different from now on.", "I found {s} under a pile of coats this morning.",
    "Nobody told me about {s} until today.", "So {s} turned out to be twice the size we expected.",
    "We are going to talk about {s} again after lunch.", "Apparently {s} has been there since last winter.",
)


def _texts() -> list[str]:
    """Neutral everyday texts (no cue of any dimension), pairwise word-set Jaccard below 0.6."""
    out, sets = [], []
    for s_i, f_i in itertools.product(range(len(_SUBJECTS)), range(len(_FRAMES))):
        frame = _FRAMES[(f_i + s_i) % len(_FRAMES)]
        text = frame.format(s=_SUBJECTS[s_i])
        text = text[0].upper() + text[1:]
        words = word_set(text)
        if any(style_cues(text, dim) for dim in CUE_LEXICON) or any(jaccard(words, w) >= 0.6 for w in sets):
            continue
        out.append(text)
        sets.append(words)
    return out


SCRIPTED_TEXTS = _texts()
REPLY_STYLE_FOR = {"happy": "cheerful", "surprised": "excited", "sad": "sympathetic", "angry": "calm",
                   "fear": "calm", "disgust": "concerned", "sincere": "warm", "sarcastic": "playful",
                   "adult": "neutral", "child": "gentle", "male": "serious", "female": "warm"}

REPLY_TEXT = {"happy": "That is lovely news, enjoy it.", "surprised": "Really? Nobody saw that coming.",
              "sad": "I am sorry, that must hurt.", "angry": "That was unfair to you.",
              "fear": "You are safe now, breathe slowly.", "disgust": "Throw it out and wash up.",
              "sincere": "Good to hear it went well.", "sarcastic": "Sounds like it went badly again.",
              "adult": "Compare the prices before buying.", "child": "Let us draw a picture together.",
              "male": "Men usually need a larger size.", "female": "Women often choose the smaller model."}
"""A different reply for each style (the lint refuses a pair whose two replies are alike)."""


def _field(text: str, name: str) -> str | None:
    match = re.search(rf"^{name}: (.*)$", text, re.MULTILINE)
    return match.group(1).strip() if match else None


class ScriptedLLM:
    """A deterministic `BuildLLM` keyed on the `TASK:` marker of the first user message.

    `generate` answers are JSON arrays of valid records (texts from `SCRIPTED_TEXTS`, in order, cycling; the styles
    and counts the prompt asks for, reply styles from `REPLY_STYLE_FOR`); filter answers pass unless the record's
    text is in `fail_filter` (fails neutrality) or in `fail_tests[test]`.

    Args:
        bad_json_every (`int`, *optional*): every k-th answer (counting all answers) is garbage, not JSON.
        error_every (`int`, *optional*): every k-th answer is an exception (an endpoint failing after retries).
        fail_filter (`set[str]`, *optional*): texts that fail neutrality.
        fail_tests (`dict[str, set[str]]`, *optional*): per test, texts that fail it.
        interrupt_after (`int`, *optional*): `complete` raises `KeyboardInterrupt` on the call after this many.
        fence (`bool`, *optional*, defaults to `True`): wrap generate answers in a ```json code fence.
        records (`list`, *optional*): a fixed answer to every generate task (list of dicts, serialised), to inject
            bad records.
        texts (`list[str]`, *optional*): the texts to use instead of `SCRIPTED_TEXTS`.

    Attributes:
        seen (`list[list[dict]]`): every conversation received; `calls` the `complete` calls; `answers` the answers.
    """

    name = "scripted"
    batch_size = 4

    def __init__(self, bad_json_every: int | None = None, error_every: int | None = None,
                 fail_filter: set[str] | None = None, fail_tests: dict[str, set[str]] | None = None,
                 interrupt_after: int | None = None, fence: bool = True, records: list | None = None,
                 texts: list[str] | None = None):
        self.bad_json_every, self.error_every = bad_json_every, error_every
        self.fail_tests = {k: set(v) for k, v in (fail_tests or {}).items()}
        self.fail_tests.setdefault("neutrality", set()).update(fail_filter or ())
        self.interrupt_after, self.fence, self.records = interrupt_after, fence, records
        self.texts = list(texts or SCRIPTED_TEXTS)
        self.next_text = 0
        self.seen, self.calls, self.answers = [], 0, 0
        self.lock = threading.Lock()

    def complete(self, conversations, max_new_tokens):
        with self.lock:
            if self.interrupt_after is not None and self.calls >= self.interrupt_after:
                raise KeyboardInterrupt("scripted interruption")
            self.calls += 1
            return [self._answer(c) for c in conversations]

    def _answer(self, conversation):
        self.seen.append(conversation)
        self.answers += 1
        if self.error_every and self.answers % self.error_every == 0:
            return RuntimeError("scripted endpoint error")
        if self.bad_json_every and self.answers % self.bad_json_every == 0:
            return "Sure! Here are some ideas: a cat, a hat (not JSON)"
        users = [m["content"] for m in conversation if m["role"] == "user"]
        first = users[0]
        task = first.splitlines()[0].removeprefix("TASK:").strip()
        if task == "generate":
            return self._generate(first, users[-1])
        text = _field(first, "Text")
        failed = text in self.fail_tests.get(task, set())
        return json.dumps({"pass": not failed, "reason": f"scripted {task} {'fails' if failed else 'passes'}"})

    def _generate(self, first: str, last: str) -> str:
        if self.records is not None:
            body = json.dumps(self.records)
            return f"```json\n{body}\n```" if self.fence else body
        dimension, mode = _field(first, "Dimension"), _field(first, "Mode")
        count = int(_field(last, "Count") or _field(first, "Count"))
        spec = _field(last, "Styles per record") or _field(first, "Styles per record")
        pairs = [p.split("+") for p in spec.split("; ")] if spec else []
        records = []
        for k in range(count):
            text = self.texts[self.next_text % len(self.texts)]
            self.next_text += 1
            record = {"scenario": f"The speaker mentions this at home: {text.lower()}", "text": text}
            if mode != "polytone":
                styles = pairs[k % len(pairs)] if pairs else list(STYLES[dimension][:2])
                record["styles"] = styles
                record["per_style"] = {s: {"requirement": f"Hears a {s} speaker and answers to fit it.",
                                           "reference_reply": f"{REPLY_TEXT[s]} Reply {k}.",
                                           "reference_reply_style": REPLY_STYLE_FOR[s]} for s in styles}
            records.append(record)
        body = json.dumps(records, indent=1)
        return f"Here you go.\n```json\n{body}\n```" if self.fence else body


@contextlib.contextmanager
def serve_scripted_llm(scripted: ScriptedLLM, fail_first: int = 0, status: int = 500):
    """A local OpenAI-compatible `/v1/chat/completions` server (127.0.0.1, random port, a thread) answering with
    `scripted`. The first `fail_first` requests get HTTP `status`; an exception answer of `scripted` is an HTTP 500.
    Yields the base URL (`http://127.0.0.1:<port>/v1`); `scripted.http_requests` lists (path, status) per request."""
    scripted.http_requests = []
    lock = threading.Lock()

    def handle(path, headers, raw):
        body = json.loads(raw)
        with lock:
            failing = len(scripted.http_requests) < fail_first
            scripted.http_requests.append([path, None])
            entry = scripted.http_requests[-1]
        if failing:
            code, reply = status, {"error": {"message": "scripted server failure", "type": "server_error"}}
        else:
            [answer] = scripted.complete([body["messages"]], body.get("max_tokens"))
            if isinstance(answer, BaseException):
                code, reply = 500, {"error": {"message": str(answer), "type": "server_error"}}
            else:
                code, reply = 200, completion({"content": answer})
        entry[1] = code
        return code, reply

    with serve_http(handle) as base:
        yield base
