"""Honest parsing: a score is read only where the answer commits to one integer 1-5 on the 1-5 scale; the expected
score is read at the very digit the parser took; a negated style is not a match."""

from collections import Counter

import numpy as np
import pytest

from parass2s_hf.judge import JudgeConfig, JudgeParseError, ParaS2SJudge
from parass2s_hf.judge.parsing import parse_judgement, parse_style
from parass2s_hf.models import Generation, expected_from_logits

RUBRIC_JSON = '{"rationale": "gives 4 tips in a warm voice", "content_score": 4, "style_score": 2, "score": 3}'

READ = [
    # the prompt's JSON, reasons first; digits inside the rationale are not scores
    (RUBRIC_JSON, 3, 4, 2),
    ('```json\n{"score": "5"}\n```', 5, None, None),
    ('{"score": 2, "rationale": "x"}', 2, None, None),
    ('{"rationale": "ok", "score": 4} Score: 4', 4, None, None),  # the same score twice is one commitment
    # the paper's form
    ("The reason is the reply gives 4 tips; The score is 3.", 3, None, None),
    ("The reason is: a flat voice to a sad user. The score is 2", 2, None, None),
    # labelled, with Markdown emphasis and scale labels
    ("Score: 4", 4, None, None),
    ("**Score:** **4**", 4, None, None),
    ("Overall Score (1-5): 4", 4, None, None),
    ("__Final rating__ = 4/5", 4, None, None),
    ("The final score is 2.", 2, None, None),
    ("Rating: 4.0 out of 5", 4, None, None),
    ("Content score: 2\nStyle score: 1\nOverall score: 3", 3, 2, 1),
    ("Style: 2, content: 4. Score: 3", 3, 4, 2),
    ("The content is 3 lines long. Score: 2", 2, None, None),
    ("Score: 4. It could be 2 sentences shorter.", 4, None, None),
    ("Score: 4\n...\nFinal score: 4", 4, None, None),
    # fractions on the 1-5 scale, a bare digit
    ("**4**/5", 4, None, None),
    ("4 out of 5", 4, None, None),
    ("5", 5, None, None),
    ("`3`", 3, None, None),
]

MISSING = [
    # wrong scale
    ("Score: 5/10", "another scale"),
    ("Score: 4 out of 10", "another scale"),
    ("Score (1-10): 7", "another scale"),
    ("Rating: 80/100", "another scale"),
    # off the scale, not an integer
    ("Score: 7", "off the 1-5 scale"),
    ("Score: 0", "off the 1-5 scale"),
    ('{"score": 9}', "off the 1-5 scale"),
    ("Score: 4.5", "not one integer"),
    ('{"score": 3.5}', "not an integer"),
    ('{"score": true}', "boolean"),
    ('{"score": "4/5"}', "not one integer"),
    # ranges and lists
    ("Score: 3-4", "a range"),
    ("Score: 3 to 4", "a range"),
    ("Score: 4,5", "not one integer"),
    ("Score: 4 or 5", "several scores"),
    ("The response is between 3 and 4. Score: 3", "hedged"),
    # conflicting and hedged
    ('{"score": 4} Score: 1', "conflicting scores [1, 4]"),
    ("Score: 4 and Score: 2", "conflicting scores [2, 4]"),
    ('{"score": 4} {"score": 2}', "conflicting scores [2, 4]"),
    ("4/5 or maybe 2/5", "conflicting scores [2, 4]"),
    ("The response scores 2 out of 5 but could be 5", "hedged"),
    ("Score: 3, maybe 4", "hedged"),
    ("Score: 3. Perhaps a 4 if the voice were warmer.", "hedged"),
    # no score at all
    ("angr5 are", "no score found"),
    ("It has 3 problems and 4 merits", "no score found"),
    ("I would rate it highly.", "no score found"),
    ("", "empty answer"),
]


@pytest.mark.parametrize("text, score, content, style", READ)
def test_parser_reads_committed_scores(text, score, content, style):
    parsed = parse_judgement(text)
    assert (parsed.score, parsed.content_score, parsed.style_score) == (score, content, style)
    assert text[parsed.score_offset] == str(score)  # the offset points at the digit that was read


@pytest.mark.parametrize("text, reason", MISSING)
def test_parser_refuses_what_it_cannot_honestly_read(text, reason):
    with pytest.raises(JudgeParseError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        parse_judgement(text)


def test_rationale_comes_from_the_json_or_the_papers_form():
    assert parse_judgement(RUBRIC_JSON).rationale == "gives 4 tips in a warm voice"
    assert parse_judgement("The reason is the reply gives 4 tips; The score is 3.").rationale == "the reply gives 4 tips"
    assert parse_judgement("Score: 4").rationale == "Score: 4"


@pytest.mark.parametrize("text, style", [
    ("The speaker sounds sad.", "sad"), ("fearful", "fear"), ("happy or sad", None), ("x7#", None),
    ("not happy", None), ("The speaker is not happy.", None), ("isn't happy", None), ("neither happy nor sad", None),
    ("not happy, rather sad", "sad"), ("It doesn't sound sad at all; happy.", "happy"),
    ("unhappy", None),
])
def test_parse_style_reads_a_negated_style_as_no_match(text, style):
    assert parse_style(text, ("happy", "sad", "fear")) == style


# ---- the expected score is read at the digit the parser took ----

def _rubric_returning(generation):
    class Rubric:
        def __init__(self):
            self.stats = Counter()

        def generate(self, messages, max_new_tokens):
            return [generation] * len(messages)

    return Rubric()


def test_expected_score_is_read_at_the_parsed_digit_not_at_a_rationale_digit():
    """The defect: "gives 4 tips" in the rationale moved a 3.44 to 2.50, because the expected value was read at the
    last generated digit equal to the score. Here the rationale's "3" and the score's "3" carry different logits."""
    from test_judge import ScriptedASR, ScriptedAudioLLM, items

    text = 'The reason is it gives 3 tips; The score is 3.'
    rationale_logits = [0.0, 3.0, 0.0, 0.0, -9.0]  # expected about 2.1
    score_logits = [-9.0, -9.0, 1.2, 1.0, -1.0]  # expected about 3.4
    gen = Generation(text, digit_steps=[(text.index("3"), rationale_logits), (text.rindex("3"), score_logits)])
    judge = ParaS2SJudge(JudgeConfig(), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(), rubric=_rubric_returning(gen))
    [r] = judge.score(items(1))
    assert r.score == 3 and r.score_expected == pytest.approx(expected_from_logits(score_logits))
    # JSON answer: the "score" value, not the content_score or a digit in the rationale
    steps = [(RUBRIC_JSON.index("4"), [0, 0, 0, 9.0, 0]), (RUBRIC_JSON.rindex("3"), [0, 0, 4.0, 0, 0])]
    [r] = ParaS2SJudge(JudgeConfig(), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(),
                       rubric=_rubric_returning(Generation(RUBRIC_JSON, steps))).score(items(1))
    assert r.score == 3 and r.score_expected == pytest.approx(expected_from_logits([0, 0, 4.0, 0, 0]))
    # no logits at the parsed digit: no expected score, rather than one read elsewhere
    assert Generation(text, digit_steps=[(text.index("3"), rationale_logits)]).expected_at(text.rindex("3")) is None


def test_local_generation_records_each_digit_at_its_character_offset(tiny):
    """The tiny audio LLM answers in digits: every recorded offset holds its step's digit, and that digit is the
    greedy choice, so the offsets line up with the generation steps."""
    from parass2s_hf.judge import prompts
    from parass2s_hf.models import AudioLLMBackend, LoadSettings

    backend = AudioLLMBackend(tiny["audio_llm"], LoadSettings())
    [gen] = backend.generate([prompts.tone_conversation()], [[np.sin(np.arange(16000) / 9).astype(np.float32)]], 6)
    assert gen.digit_steps and len(gen.digit_steps) == sum(ch.isdigit() for ch in gen.text)
    for offset, logits in gen.digit_steps:
        assert gen.text[offset] == str(int(np.argmax(logits)) + 1)
