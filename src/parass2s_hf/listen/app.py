"""The listening pages, built with Gradio: rate responses (1-5) or verify a build's rendered items.

The page sends audio as samples, never as paths: nothing on the page names or reaches a file, and only the clips of
the runs or the work folder it was started with are ever loaded. Analytics are off (`GRADIO_ANALYTICS_ENABLED`), so
no request leaves the machine. Keyboard: 1-5 choose a rating (a accept, r reject in verification), Enter submits,
u undoes the last one.
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no request leaves the machine

from ..audio import load_audio
from ..judge.prompts import LEVELS
from .rating import RatingLog

SHORTCUTS = """
<script>
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target && (target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type === "text"))) return;
  const click = (selector) => { const el = document.querySelector(selector); if (el) { el.click(); } };
  if (/^[1-5]$/.test(event.key)) click(`#score input[value="${event.key}"]`);
  else if (event.key === "a") click('#decision input[value="accept"]');
  else if (event.key === "r") click('#decision input[value="reject"]');
  else if (event.key === "Enter") click("#submit");
  else if (event.key === "u") click("#undo");
});
</script>
"""


def _samples(path_or_audio) -> tuple[int, object]:
    """(rate, int16 samples) of a clip, as Gradio's audio player takes it."""
    import numpy as np

    clip = load_audio(path_or_audio)
    return clip.sampling_rate, (np.clip(clip.array, -1.0, 1.0) * 32767).astype(np.int16)


class _Queries:
    """The query clips of the runs' benchmark configs, each config loaded once."""

    def __init__(self):
        self.rows: dict[tuple, dict] = {}

    def row(self, item: dict) -> dict:
        from ..bench import load_parass2sbench

        dataset = item["dataset"]
        key = tuple(sorted((k, str(v)) for k, v in dataset.items()))
        if key not in self.rows:
            ds = load_parass2sbench(dataset.get("config") or "synthetic", split=dataset.get("split") or "test",
                                    data_dir=dataset.get("data_dir"), iemocap_dir=dataset.get("iemocap_dir"),
                                    meld_dir=dataset.get("meld_dir"))
            self.rows[key] = {rid: i for i, rid in enumerate(ds["id"])}, ds
        index, ds = self.rows[key]
        return ds[index[item["id"]]]


def rate_page(items: list[dict], log: RatingLog, title: str = "ParaS2S: rate the spoken replies"):
    """The rating page over `items` (`rating.select_items`), writing to `log`.

    Returns:
        `gradio.Blocks`: launch it with `.launch(server_name="127.0.0.1")`.
    """
    import gradio as gr

    queries = _Queries()
    total = len(items)

    def current():
        done = log.rated_keys()
        pending = [i for i in items if (i["system"], i["id"], i["sample"]) not in done]
        return pending[0] if pending else None, total - len(pending)

    def show():
        item, done = current()
        progress = f"**{done} of {total}** rated" + ("" if item else ". All done: thank you.")
        if item is None:
            return progress, "", None, None, None, ""
        row = queries.row(item)
        about = (f"**{item['dimension']}**: the query is spoken as **{row['style']}**.\n\n"
                 f"A fitting reply: {row.get('requirement') or '(no note for this item)'}")
        return progress, about, _samples(row["audio"]), _samples(item["response"]), None, ""

    def submit(score, comment):
        item, _ = current()
        if item is not None:
            if score is None:
                gr.Warning("Choose a rating from 1 to 5 first.")
                return show()
            log.add(item, int(score), comment or "")
        return show()

    def undo():
        if log.undo() is None:
            gr.Info("Nothing to undo.")
        return show()

    with gr.Blocks(title=title, head=SHORTCUTS, analytics_enabled=False) as page:
        gr.Markdown(f"# {title}\nListen to the spoken query, then to the reply, and rate how well the reply fits "
                    f"**what** was said and **how** it was said. Rater: **{log.rater}**. Keys: 1-5, Enter, u (undo).")
        progress = gr.Markdown(elem_id="progress")
        about = gr.Markdown(elem_id="about")
        with gr.Row():
            query = gr.Audio(label="query", type="numpy", interactive=False, elem_id="query")
            response = gr.Audio(label="reply", type="numpy", interactive=False, elem_id="response")
        score = gr.Radio(["1", "2", "3", "4", "5"], label="rating (1 very poor ... 5 perfect)", elem_id="score")
        comment = gr.Textbox(label="comment (optional)", lines=1, elem_id="comment")
        with gr.Row():
            submit_button = gr.Button("Submit (Enter)", variant="primary", elem_id="submit")
            undo_button = gr.Button("Undo last (u)", elem_id="undo")
        with gr.Accordion("The rubric", open=False):
            gr.Markdown(LEVELS.replace("\n", "\n\n"))
        outputs = [progress, about, query, response, score, comment]
        page.load(show, None, outputs)
        submit_button.click(submit, [score, comment], outputs)
        undo_button.click(undo, None, outputs)
    return page


def verify_page(work_dir: str, rater: str, title: str = "ParaS2S: verify the rendered items"):
    """The verification page over a build's work folder: accept each record's two clips, or reject them with a
    reason (`construct.human_check`); `parass2s build export` then drops the rejected records.

    Returns:
        `gradio.Blocks`.
    """
    import gradio as gr

    from ..construct import WorkDir
    from ..construct.human_check import REJECT_REASONS, decisions, items_to_check, record_decision, undo_last
    from .rating import check_rater

    check_rater(rater)
    work = WorkDir(work_dir)
    items = items_to_check(work)
    total = len(items)

    def current():
        mine = {rid for rid, lines in decisions(work).items() if any(d.get("rater") == rater for d in lines)}
        pending = [i for i in items if i["id"] not in mine]
        return pending[0] if pending else None, total - len(pending)

    def show():
        item, done = current()
        progress = f"**{done} of {total}** checked" + ("" if item else ". All done: thank you.")
        if item is None:
            return progress, "", None, None, None, None, ""
        styles = list(item["styles"])
        about = (f"**{item.get('dimension', '')}** ({item.get('split', '')}): \"{item['text']}\"\n\n"
                 f"Left: spoken as **{styles[0]}**; right: spoken as **{styles[1]}**. Accept when each clip is clear "
                 f"and sounds like its style, and the words alone do not give the style away.")
        clips = [_samples(os.path.join(work.path, item["clips"][s])) for s in styles]
        return progress, about, clips[0], clips[1], None, None, ""

    def submit(decision, reason, comment):
        item, _ = current()
        if item is not None:
            if decision is None or (decision == "reject" and not reason):
                gr.Warning("Accept, or reject with a reason.")
                return show()
            record_decision(work, rater, item["id"], decision, reason if decision == "reject" else "",
                            comment or "")
        return show()

    def undo():
        undo_last(work, rater)
        return show()

    with gr.Blocks(title=title, head=SHORTCUTS, analytics_enabled=False) as page:
        gr.Markdown(f"# {title}\nRater: **{rater}**. Keys: a accept, r reject, Enter, u (undo).")
        progress = gr.Markdown(elem_id="progress")
        about = gr.Markdown(elem_id="about")
        with gr.Row():
            first = gr.Audio(label="first style", type="numpy", interactive=False, elem_id="first")
            second = gr.Audio(label="second style", type="numpy", interactive=False, elem_id="second")
        decision = gr.Radio(["accept", "reject"], label="decision", elem_id="decision")
        reason = gr.Radio(list(REJECT_REASONS), label="reason (when rejected)", elem_id="reason")
        comment = gr.Textbox(label="comment (optional)", lines=1, elem_id="comment")
        with gr.Row():
            submit_button = gr.Button("Submit (Enter)", variant="primary", elem_id="submit")
            undo_button = gr.Button("Undo last (u)", elem_id="undo")
        outputs = [progress, about, first, second, decision, reason, comment]
        page.load(show, None, outputs)
        submit_button.click(submit, [decision, reason, comment], outputs)
        undo_button.click(undo, None, outputs)
    return page
