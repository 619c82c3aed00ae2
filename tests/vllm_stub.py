"""A local stand-in for a vLLM server (tests and benchmarks only): the OpenAI-compatible routes the judge's served
backends use, answering like vLLM does, on 127.0.0.1.

- `POST /v1/audio/transcriptions` (multipart, a WAV file): `{"text": "words of a 1.2 second clip"}`;
- `POST /v1/chat/completions`: recognises the judge's prompts and answers them (`input_audio` parts are decoded):
  the tone question -> a tone description, the style question -> a style word, the end-to-end and rubric prompts ->
  the rubric's JSON, a pairwise prompt -> the longer reply (`{"better": "1"}`, in either order), the reward prompt
  (`max_tokens=1`) -> one digit; with `logprobs`, every digit of the answer is one token with `top_logprobs` over
  the digits.

Answers depend only on the clips' durations, so they are deterministic and differ between responses. `VLLMStub`
counts requests per route, can fail a burst of requests with a status (`faults`), refuse `logprobs` (HTTP 400, as a
server started without them does), speak like Audio-Reasoner (`<THINK>...</THINK><RESPONSE>...</RESPONSE>`), and
stops serving after `max_requests` (it answers 503 then, and the test fails on its count).
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import threading
from collections import Counter

import soundfile as sf
from http_stub import completion, serve_http

TONE_WORDS = ("calm and low", "bright and fast", "flat and slow", "warm and gentle")


def _wav_seconds(data: bytes) -> float:
    samples, rate = sf.read(io.BytesIO(data), dtype="float32")
    return len(samples) / rate


def _digit_tokens(text: str, score_digit_logprob: float = math.log(0.7)) -> list:
    """`logprobs.content` of `text`: each digit its own token, with top_logprobs peaked on it."""
    out = []
    for piece in re.findall(r"\d|\D+", text):
        top = []
        if piece.isdigit() and 1 <= int(piece) <= 5:
            d = int(piece)
            top = [{"token": piece, "logprob": score_digit_logprob, "bytes": None}]
            for n in (d - 1, d + 1):
                if 1 <= n <= 5:
                    top.append({"token": str(n), "logprob": math.log(0.1), "bytes": None})
        out.append({"token": piece, "logprob": -0.01, "bytes": None, "top_logprobs": top})
    return out


class VLLMStub:
    """The server's behaviour and counters; `serve()` runs it (a context manager yielding the `/v1` base URL).

    Args:
        faults (`list[tuple[int, int, int]]`, *optional*): `(after, count, status)`: requests number `after` to
            `after + count - 1` (0-based, all routes) are answered with `status`.
        logprobs (`bool`, *optional*, defaults to `True`): answer `logprobs` requests; `False` refuses them (400).
        reasoner (`bool`, *optional*, defaults to `False`): tone and style answers in Audio-Reasoner's format.
        max_requests (`int`, *optional*, defaults to `500`): a bound; later requests get 503.
    """

    def __init__(self, faults=(), logprobs: bool = True, reasoner: bool = False, max_requests: int = 500):
        self.faults, self.logprobs, self.reasoner, self.max_requests = list(faults), logprobs, reasoner, max_requests
        self.requests = Counter()
        self.seen = []
        self._n = 0
        self._lock = threading.Lock()

    def serve(self):
        return serve_http(self.handle)

    def handle(self, path, headers, body):
        with self._lock:
            n = self._n
            self._n += 1
        self.requests[path] += 1
        if n >= self.max_requests:
            return 503, {"error": {"message": "stub request bound reached", "type": "server_error"}}
        for after, count, status in self.faults:
            if after <= n < after + count:
                return status, {"error": {"message": f"injected {status}", "type": "server_error"}}
        if path.endswith("/audio/transcriptions"):
            start = body.index(b"RIFF")
            size = int.from_bytes(body[start + 4:start + 8], "little") + 8
            return 200, {"text": f"words of a {_wav_seconds(body[start:start + size]):.1f} second clip"}
        if path.endswith("/chat/completions"):
            return self._chat(json.loads(body))
        return 404, {"error": {"message": f"no route {path}"}}

    def _chat(self, request: dict):
        self.seen.append(request)
        if request.get("logprobs") and not self.logprobs:
            return 400, {"error": {"message": "logprobs is not supported by this server", "type": "BadRequestError"}}
        text, seconds = [], []
        for message in request["messages"]:
            content = message["content"]
            for part in ([{"type": "text", "text": content}] if isinstance(content, str) else content):
                if part["type"] == "text":
                    text.append(part["text"])
                elif part["type"] == "input_audio":
                    seconds.append(_wav_seconds(base64.b64decode(part["input_audio"]["data"])))
        prompt = "\n".join(text)
        last = seconds[-1] if seconds else 0.0
        score = 1 + round(last * 10) % 5  # depends on the (last) clip: responses differ
        if "Ignore the words" in prompt:
            answer = TONE_WORDS[round(last * 10) % len(TONE_WORDS)]
        elif "Which one fits" in prompt:
            choices = re.search(r"best: (.*)\?", prompt).group(1).split(", ")
            answer = choices[round(last * 10) % len(choices)]
        elif request.get("max_tokens") == 1:
            answer = str(score)
        elif "Which reply fits the request better" in prompt:  # pairwise: the longer reply, in either order
            lengths = ([float(x) for x in re.findall(r"Reply \d \(transcript\): words of a ([\d.]+) second", prompt)]
                       if not seconds else seconds[1:3])
            better = "tie" if lengths[0] == lengths[1] else ("1" if lengths[0] > lengths[1] else "2")
            answer = json.dumps({"rationale": "the longer reply says more", "better": better})
        else:
            if not seconds:  # the rubric: the response's duration is in its transcript
                found = re.search(r"Spoken response \(transcript\): words of a ([\d.]+) second", prompt)
                score = 1 + round(float(found.group(1)) * 10) % 5 if found else 3
            answer = json.dumps({"rationale": "gives 4 tips in a fitting voice", "content_score": 4,
                                 "style_score": max(1, score - 1), "score": score})
        if self.reasoner and ("Ignore the words" in prompt or "Which one fits" in prompt):
            answer = f"<THINK>The clip is {last:.1f} s; the pitch 3 times rises...</THINK><RESPONSE>{answer}</RESPONSE>"
        reply = completion({"content": answer})
        if request.get("logprobs"):
            reply["choices"][0]["logprobs"] = {"content": _digit_tokens(answer)}
        return 200, reply
