"""The metric's Space (`app_file` of the card): score one (spoken query, spoken response) pair with the judge.

`score_pair` holds the logic; the Gradio interface is built only when this file runs as a script (as a Space runs it),
so the function imports and runs without Gradio. The judge is the default `multistage` one; its models load at the
first score.
"""

import evaluate

import parass2s_hf  # noqa: F401 - registers the name "parass2s_judge"
from parass2s_hf.constants import DIMENSIONS, QUERY_STYLES

judge = evaluate.load("parass2s_judge")


def score_pair(query_audio, response_audio, dimension=None, query_style=None, requirement=None) -> dict:
    """The judgement of one pair (a `JudgeResult` as a dict: score, status, reason, perception, ...).

    Args:
        query_audio (`str`): path of the spoken query (what the Space's audio input gives).
        response_audio (`str`): path of the spoken response.
        dimension (`str`, *optional*): `emotion`, `sarcasm`, `age` or `gender`.
        query_style (`str`, *optional*): the query's style; predicted when empty.
        requirement (`str`, *optional*): what a fitting reply does.
    """
    out = judge.compute(query_audio=[query_audio], response_audio=[response_audio], dimension=[dimension or None],
                        query_style=[query_style or None], requirement=[requirement or None])
    return out["per_item"][0]


def demo():
    import gradio as gr

    return gr.Interface(
        fn=score_pair,
        inputs=[gr.Audio(type="filepath", label="spoken query"), gr.Audio(type="filepath", label="spoken response"),
                gr.Dropdown(list(DIMENSIONS), label="dimension"),
                gr.Dropdown(list(QUERY_STYLES), label="query style (predicted when empty)"),
                gr.Textbox(label="requirement (optional)")],
        outputs=gr.JSON(label="judgement"),
        title="ParaS2S judge",
        description="Scores a spoken response from 1 to 5 for how well it fits what was said and how it was said.",
    )


if __name__ == "__main__":
    demo().launch()
