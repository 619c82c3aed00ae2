"""The `evaluate` metric against evaluate's own conventions (the checks of evaluate's `tests/test_metric_common.py`
and its module template, which cannot be installed from PyPI), and against every audio input a user has: what
`load_dataset` gives (`AudioDecoder`s), `{"array", "sampling_rate"}` dicts, and every form mixed, in `compute` as in
`add_batch`/`add`."""

import doctest
import importlib
import importlib.util
import inspect
import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml
from conftest import tone
from test_judge import REPO, ScriptedRubric, scripted_judge

CARD_DIR = os.path.join(REPO, "metric", "parass2s_judge")
# Clip lengths the scripted ASR reads back ("words of a 1.2 second clip"): which clip reached the judge, at which rate.
SECONDS = (0.5, 0.8, 1.2, 1.5, 1.9, 2.3)


def words(seconds):
    return f"words of a {seconds:.1f} second clip"


def evaluate_module():
    """The module `evaluate` imports for the repository's metric folder, loaded as evaluate's common test does."""
    import evaluate

    import parass2s_hf  # noqa: F401 - the name hook, for `evaluate.load("parass2s_judge")` in the examples

    return importlib.import_module(
        evaluate.loading.evaluation_module_factory(CARD_DIR, module_type="metric").module_path)


def load_metric(answers=("Score: 4",), **kw):
    import evaluate

    import parass2s_hf  # noqa: F401

    return evaluate.load("parass2s_judge", judge=scripted_judge(list(answers)), **kw)


def response_texts(out):
    return [item["perception"]["response_text"] for item in out["per_item"]]


def wav(folder, seconds, rate=16000, name=None):
    path = os.path.join(str(folder), name or f"clip_{seconds}_{rate}.wav")
    sf.write(path, tone(seconds, 200, sr=rate), rate)
    return path


# ---- evaluate's common test and module template ----

def test_module_has_evaluate_layout_and_compute_signatures():
    """evaluate's `test_load`: `_compute` takes no `**kwargs`; and here also: it takes every argument of `compute`, as
    `add_batch` and `add` do, and the module holds the template's descriptions, with the examples in the class
    docstring (`add_start_docstrings`) of a class defined in the module itself (what doctest collects)."""
    import evaluate

    module = evaluate_module()
    cls = evaluate.loading.import_main_class(module.__name__)
    assert cls.__name__ == "Parass2sJudge" and cls.__module__ == module.__name__
    params = inspect.signature(cls._compute).parameters
    assert all(p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL) for p in params.values())

    def keywords(method):
        return {name for name, p in inspect.signature(method).parameters.items() if name != "self"}

    compute = keywords(cls.compute)
    assert {"query_audio", "response_audio", "sampling_rate", "dimension", "query_style", "query_text", "requirement",
            "item_id"} == compute
    assert compute <= keywords(cls._compute)
    assert keywords(cls.add_batch) == compute and keywords(cls.add) == compute
    for name in ("_DESCRIPTION", "_KWARGS_DESCRIPTION", "_CITATION"):
        assert isinstance(getattr(module, name), str) and getattr(module, name).strip(), name
    assert cls.__doc__.startswith(module._DESCRIPTION + module._KWARGS_DESCRIPTION)
    kwargs_doc = module._KWARGS_DESCRIPTION
    for section in ("Args:", "Returns:", "Examples:", ">>> "):
        assert section in kwargs_doc, section
    for name in compute:  # TRL style: `name (`type`)`
        assert re.search(rf"^\s+{name} \(`", kwargs_doc, re.MULTILINE), name
    metric = cls(judge=scripted_judge(["Score: 4"]))
    assert metric.inputs_description == kwargs_doc and kwargs_doc in metric.compute.__doc__


def test_kwargs_description_examples_run_as_evaluate_doctest(tmp_path, monkeypatch):
    """evaluate's `test_load` doctest: the examples run (tiny checkpoints built in a temporary folder), none fails,
    and more than one is attempted."""
    import evaluate

    module = evaluate_module()
    real_load = evaluate.load

    def load_local_metric(name, *args, **kwargs):  # evaluate's `use_local_metrics`: its own folders, not the Hub
        return real_load(CARD_DIR if name == "parass2s_judge" else name, *args, **kwargs)

    monkeypatch.setattr(doctest, "ELLIPSIS_MARKER", "[...]")
    monkeypatch.setattr(evaluate, "load", load_local_metric)
    monkeypatch.chdir(tmp_path)  # the examples name a relative file that must not exist
    results = doctest.testmod(module, verbose=False, raise_on_error=True)
    assert results.failed == 0 and results.attempted > 1


def test_metric_card_follows_the_template_and_shows_the_tested_examples():
    with open(os.path.join(CARD_DIR, "README.md"), encoding="utf-8") as f:
        card = f.read()
    front = yaml.safe_load(card.split("---\n")[1])
    for key in ("title", "sdk", "sdk_version", "app_file", "pinned", "tags", "description"):
        assert key in front, key
    assert front["sdk"] == "gradio" and front["pinned"] is False and {"evaluate", "metric"} <= set(front["tags"])
    assert os.path.isfile(os.path.join(CARD_DIR, front["app_file"]))
    headings = re.findall(r"^(#{2,3} .+)$", card, re.MULTILINE)
    for heading in ("## Metric Description", "## How to Use", "### Inputs", "### Output Values", "### Examples",
                    "## Limitations and Bias", "## Citation", "## Further References"):
        assert heading in headings, heading
    # the card's examples are the doctest's, so the card shows only what runs
    examples = card.split("### Examples", 1)[1].split("\n## ", 1)[0]
    examples = re.sub(r"^```(python)?$", "", examples, flags=re.MULTILINE)  # a fence is no expected output
    parser = doctest.DocTestParser()

    def pairs(text):
        return [(e.source, e.want) for e in parser.get_examples(text)]

    assert pairs(examples) and pairs(examples) == pairs(evaluate_module()._KWARGS_DESCRIPTION)


def test_space_app_scores_one_pair_without_gradio(tmp_path):
    spec = importlib.util.spec_from_file_location("parass2s_judge_space_app", os.path.join(CARD_DIR, "app.py"))
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)  # builds no model: the judge loads its models at the first score
    app.judge._judge = scripted_judge(["Score: 5"])
    result = app.score_pair(wav(tmp_path, 1.2), wav(tmp_path, 0.8), "emotion", "", "")
    assert (result["score"], result["status"]) == (5, "ok")
    assert result["perception"]["response_text"] == words(0.8) and result["perception"]["query_style_source"] != "label"


# ---- every input a user has ----

def test_dataset_rows_audio_decoders(tmp_path, sample_test):
    """`row["audio"]` and `dataset["audio"]` as datasets 5 gives them (torchcodec `AudioDecoder`s), from files and from
    embedded bytes, at the column's own rate; and decoders with no file at hand (streamed, or built directly)."""
    import datasets
    from torchcodec.decoders import AudioDecoder

    paths = [wav(tmp_path, s, rate) for s, rate in zip(SECONDS[:3], (16000, 22050, 44100))]
    from_files = datasets.Dataset.from_dict({"audio": paths}).cast_column("audio", datasets.Audio())
    resampled = from_files.cast_column("audio", datasets.Audio(sampling_rate=8000))
    rows = [row["audio"] for row in from_files]
    assert all(isinstance(a, AudioDecoder) for a in rows)
    metric = load_metric()
    out = metric.compute(query_audio=rows, response_audio=from_files["audio"])
    assert out["status"] == ["ok"] * 3 and response_texts(out) == [words(s) for s in SECONDS[:3]]
    out = metric.compute(query_audio=resampled["audio"], response_audio=[r["audio"] for r in resampled])
    assert response_texts(out) == [words(s) for s in SECONDS[:3]]

    bench = sample_test.select(range(2))  # the benchmark's clips are embedded bytes
    assert all(row["audio"]._hf_encoded["bytes"] for row in bench)
    out = metric.compute(query_audio=bench["audio"], response_audio=[row["audio"] for row in bench],
                         dimension=bench["dimension"], query_style=bench["style"], item_id=bench["id"])
    assert out["status"] == ["ok", "ok"] and [i["item_id"] for i in out["per_item"]] == list(bench["id"])
    seconds = [len(row["audio"]["array"]) / row["audio"]["sampling_rate"] for row in bench]
    assert response_texts(out) == [words(s) for s in seconds]

    streamed = AudioDecoder(open(paths[1], "rb"))  # noqa: SIM115 - the decoder owns the stream
    streamed._hf_encoded = {"path": "hf://datasets/someone/somewhere/clip.wav", "bytes": None}
    built = AudioDecoder(paths[2])
    out = metric.compute(query_audio=[streamed, built], response_audio=[built, streamed])
    assert response_texts(out) == [words(SECONDS[2]), words(SECONDS[1])]


def test_array_dicts_at_any_rate():
    metric = load_metric()
    clips = [{"array": tone(s, 200, sr=rate), "sampling_rate": rate} for s, rate in zip(SECONDS, (8000, 16000, 44100))]
    out = metric.compute(query_audio=clips, response_audio=clips[::-1])
    assert out["status"] == ["ok"] * 3 and response_texts(out) == [words(s) for s in SECONDS[:3][::-1]]
    # a dict without its rate takes the call's, as raw samples do
    out = metric.compute(query_audio=[{"array": tone(1.0, sr=8000)}], response_audio=[{"array": tone(1.5, sr=8000)}],
                         sampling_rate=8000)
    assert response_texts(out) == [words(1.5)]


def test_every_form_mixed_in_one_call(tmp_path):
    import datasets
    import torch

    path = wav(tmp_path, SECONDS[0], 22050)
    with open(wav(tmp_path, SECONDS[1], 16000, name="b.flac"), "rb") as f:
        encoded = f.read()
    decoder = datasets.Dataset.from_dict({"a": [wav(tmp_path, SECONDS[2], 24000)]}).cast_column("a", datasets.Audio())[0]["a"]
    responses = [
        path,  # a path
        encoded,  # encoded file bytes
        decoder,  # a datasets AudioDecoder
        {"array": tone(SECONDS[3], sr=8000), "sampling_rate": 8000},  # a dict
        torch.from_numpy(tone(SECONDS[4])),  # a tensor at the call's rate
        (tone(SECONDS[5]) * 32767).astype(np.int16),  # int16 PCM
        {"path": None, "bytes": encoded},  # datasets' undecoded form
        np.stack([tone(SECONDS[0]), tone(SECONDS[0])]),  # stereo, channels first
    ]
    queries = responses[::-1]
    out = load_metric().compute(query_audio=queries, response_audio=responses, dimension=["emotion"] * len(responses))
    assert out["status"] == ["ok"] * len(responses)
    assert response_texts(out) == [words(s) for s in (*SECONDS, SECONDS[1], SECONDS[0])]
    assert [i["perception"]["query_text"] for i in out["per_item"]] == response_texts(out)[::-1]


def test_add_batch_and_add_take_every_field_of_compute():
    rubric = ScriptedRubric(["Score: 5", "Score: 3", "Score: 1"])
    from test_judge import ScriptedASR, ScriptedAudioLLM

    from parass2s_hf.judge import JudgeConfig, ParaS2SJudge

    metric = load_metric()
    metric._judge = ParaS2SJudge(JudgeConfig(), asr=ScriptedASR(), audio_llm=ScriptedAudioLLM(), rubric=rubric)
    metric.add_batch(query_audio=[tone(1.0, sr=8000), tone(1.0)], response_audio=[tone(0.5, sr=8000), tone(1.2, sr=8000)],
                     sampling_rate=8000, dimension=["emotion", "age"], query_style=["sad", None],
                     query_text=["It is raining again.", None], requirement=["comforts the speaker", None],
                     item_id=["a", "b"])
    metric.add(query_audio=tone(1.0), response_audio=tone(1.5), dimension="age", query_style="child",
               query_text="Can I have a dog?", requirement="speaks to a child", item_id="c")
    out = metric.compute()
    assert [i["item_id"] for i in out["per_item"]] == ["a", "b", "c"]
    assert [i["score"] for i in out["per_item"]] == [5, 3, 1]
    # the batch's rate applied to its raw samples (and only there: the dict-less 16 kHz `add` clip is 1.5 s)
    assert response_texts(out) == [words(0.5), words(1.2), words(1.5)]
    perception = [i["perception"] for i in out["per_item"]]
    assert [p["query_text_source"] for p in perception] == ["given", "asr", "given"]
    assert [p["query_style_source"] for p in perception] == ["label", "audio_llm", "label"]
    assert out["per_dimension"] == {"age": {"score": 2.0, "num_scored": 2, "num": 2},
                                    "emotion": {"score": 5.0, "num_scored": 1, "num": 1}}
    assert set(out["per_style"]) == {"sad", "child"}
    prompts = [str(m) for m in rubric.seen]
    assert "comforts the speaker" in prompts[0] and "speaks to a child" in prompts[2]
    # the same pairs given to compute at once score the same
    again = load_metric(["Score: 5", "Score: 3", "Score: 1"]).compute(
        query_audio=[{"array": tone(1.0, sr=8000), "sampling_rate": 8000}, tone(1.0), tone(1.0)],
        response_audio=[{"array": tone(0.5, sr=8000), "sampling_rate": 8000},
                        {"array": tone(1.2, sr=8000), "sampling_rate": 8000}, tone(1.5)],
        dimension=["emotion", "age", "age"], query_style=["sad", None, "child"], item_id=["a", "b", "c"])
    assert [i["score"] for i in again["per_item"]] == [5, 3, 1] and response_texts(again) == response_texts(out)


def test_bad_input_is_refused_whole_naming_the_input():
    metric = load_metric()
    q = tone(1.0)
    refused = {
        "query_audio must be a list with one value per pair, got a single 1-D array":
            {"query_audio": q, "response_audio": q},
        "response_audio must be a list .* got a single str": {"query_audio": [q], "response_audio": "r.wav"},
        r"query_audio\[1\]: got 3; expected a path, encoded bytes, samples":
            {"query_audio": [q, 3], "response_audio": [q, q]},
        r"response_audio\[0\]: got None": {"query_audio": [q], "response_audio": [None]},
        r"query_audio\[0\]: cannot be read as an array of samples":
            {"query_audio": [[q, q[:5]]], "response_audio": [q]},
        r"query_audio\[0\]: invalid sampling rate 'x'":
            {"query_audio": [{"array": q, "sampling_rate": "x"}], "response_audio": [q]},
        "sampling_rate: invalid sampling rate 16000.5":
            {"query_audio": [q], "response_audio": [q], "sampling_rate": 16000.5},
        "response_audio has 1 values but there are 2 pairs": {"query_audio": [q, q], "response_audio": [q]},
        "dimension has 1 values but there are 2 pairs":
            {"query_audio": [q, q], "response_audio": [q, q], "dimension": ["emotion"]},
        r"item_id\[0\] is 7 \(int\); expected a str or None":
            {"query_audio": [q], "response_audio": [q], "item_id": [7]},
        r"dimension must be a list .* got a single str": {"query_audio": [q], "response_audio": [q], "dimension": "age"},
        "response_audio missing: every batch needs": {"query_audio": [q], "dimension": ["age"]},
        "Nothing to score": {},
    }
    for message, kwargs in refused.items():
        with pytest.raises(ValueError, match=message):
            metric.compute(**kwargs)
        with pytest.raises(ValueError, match=message if kwargs else "query_audio and response_audio missing"):
            metric.add_batch(**kwargs)
    with pytest.raises(TypeError, match="unexpected keyword argument 'references'"):
        metric.add_batch(query_audio=[q], response_audio=[q], references=[1])
    # nothing of a refused batch was stored: the next compute scores only its own pair
    out = metric.compute(query_audio=[q], response_audio=[tone(0.8)])
    assert out["status"] == ["ok"] and response_texts(out) == [words(0.8)]


def test_pack_audio_keeps_every_input_exactly():
    import torch

    from parass2s_hf.audio import AudioError, pack_audio, unpack_audio

    stereo_pcm = (np.stack([tone(0.1), tone(0.1, 300)]) * 32767).astype(np.int16)
    for audio in (np.full(160, np.nan, np.float32), stereo_pcm, np.zeros(0, np.float64)):
        back = unpack_audio(pack_audio(audio, 16000))
        np.testing.assert_array_equal(back["array"], audio)
        assert back["array"].dtype == audio.dtype and back["sampling_rate"] == 16000
    assert unpack_audio(pack_audio(tone(0.1)), sampling_rate=8000)["sampling_rate"] == 8000
    assert unpack_audio(pack_audio(torch.ones(4, dtype=torch.bfloat16), 16000))["array"].dtype == np.float32
    assert unpack_audio(pack_audio("clip.wav")) == "clip.wav" and unpack_audio(pack_audio(b"RIFF")) == b"RIFF"
    assert unpack_audio(pack_audio({"path": "x.flac", "bytes": b"fLaC"})) == b"fLaC"
    with pytest.raises(AudioError, match=r"q: expected a dict with 'array', 'bytes' or 'path', got keys \['wav'\]"):
        pack_audio({"wav": 1}, name="q")


def test_the_hub_metric_folder_ships_the_packaged_module_unchanged():
    """`metric/parass2s_judge/` (what a Hub metric repo holds) and the module `evaluate.load("parass2s_judge")` imports
    from the package are one file in two places: they must not drift apart."""
    from importlib import resources

    repo = Path(__file__).resolve().parent.parent
    hub = (repo / "metric" / "parass2s_judge" / "parass2s_judge.py").read_text(encoding="utf-8")
    packaged = resources.files("parass2s_hf.judge").joinpath("evaluate_module", "parass2s_judge.py")
    assert hub == packaged.read_text(encoding="utf-8")
