"""The one `Features` object of a ParaS2SBench row (docs/architecture.md, "Benchmark row")."""

import datasets

from ..constants import SAMPLING_RATE

ROW_FIELDS = (
    "id", "pair_id", "split", "dimension", "style", "text", "audio", "voice", "source", "topic", "scenario",
    "requirement", "reference_reply", "reference_reply_style",
)
"""Field order of a row. Real-corpus rows leave `pair_id`, `topic`, `scenario` and the reference fields empty."""

FIELD_DESCRIPTIONS = {
    "id": "unique id of the utterance: `<pair_id>-<style>` for synthetic rows, `<corpus>-<utterance id>` for real ones",
    "pair_id": "id of the text; the two styles of one text share it (empty for real corpora)",
    "split": "`test` (the benchmark) or `train` (the train pool, topic-disjoint from test)",
    "dimension": "`emotion`, `sarcasm`, `age` or `gender`",
    "style": "the query style the audio is spoken in (12 styles, see the table)",
    "text": "the words spoken (neutral: they do not reveal the style)",
    "audio": f"the spoken query, mono, decoded at {SAMPLING_RATE} Hz",
    "voice": "the voice or speaker (renderer voice for synthetic rows, corpus speaker for real ones)",
    "source": "the renderer (`espeak-ng`, ...) or the corpus (`iemocap`, `meld`)",
    "topic": "topic of the text (train and test topics are disjoint)",
    "scenario": "one-line situation for annotators (not spoken)",
    "requirement": "what a fitting reply does under this style, in content and tone (read by the judge)",
    "reference_reply": "a fitting reply (empty for real corpora)",
    "reference_reply_style": "the speaking style of the reference reply, from the reply-style vocabulary",
}

FEATURES = datasets.Features(
    {name: (datasets.Audio(sampling_rate=SAMPLING_RATE) if name == "audio" else datasets.Value("string"))
     for name in ROW_FIELDS}
)
"""The `datasets.Features` of every ParaS2SBench config."""
