"""`parass2s build` against hostile or damaged work folders: paths in stage files that lead outside the work folder,
records without the fields the later stages need, damaged `build.json` / `summary.json` / recipes (one error line,
exit code 2), and `--repair` of a damaged stage file line (moved to `<file>.rejected`, its item redone)."""

import json
import os
import re
import shutil

import pytest
from build_helpers import ScriptedLLM, serve_scripted_llm
from test_build_render import TEXTS, record, verdicts

from parass2s_hf import cli
from parass2s_hf.construct import WorkDir
from parass2s_hf.construct.cli import build_parser
from parass2s_hf.construct.export import ExportConfig, run_export
from parass2s_hf.construct.filter import FilterConfig, run_filter
from parass2s_hf.construct.generate import GenerateConfig, run_generate
from parass2s_hf.construct.recipe import load_recipe
from parass2s_hf.construct.render_stage import RenderConfig, run_render
from parass2s_hf.construct.verify import VerifyConfig, run_verify

KEY = "PARASS2S_BUILD_TEST_KEY"
CLIP = "emotion-test-0000-happy"


class CountingASR:
    """Transcribes every clip as "x" (verify then passes them all under a huge max_wer) and counts the clips."""

    def __init__(self):
        self.clips = 0

    def transcribe(self, arrays):
        self.clips += len(arrays)
        return ["x"] * len(arrays)


class FakeHub:
    """A stand-in `HfApi` that records the folders it is asked to upload."""

    def __init__(self):
        self.uploads = []

    def create_repo(self, repo_id, **kwargs):
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, folder_path, **kwargs):
        self.uploads.append(folder_path)


def kept_work(path):
    """A benchmark work folder after generate and filter: four kept records, test and train on different topics."""
    work = WorkDir(path)
    work.begin("generate", {"mode": "benchmark", "dimension": "emotion"})
    work.begin("filter", {"llm": "scripted"})
    records = [record("emotion", "test" if k < 2 else "train", k, ("happy", "sad"), TEXTS[k], "benchmark",
                      topic="errands" if k < 2 else "travel") for k in range(4)]
    for r in records:
        work.log("generate").append(r)
        work.log("filter").append({"id": r["id"], "status": "kept", "reason": "", "verdicts": verdicts()})
    return work


def finished_work(path):
    """`kept_work` rendered with espeak-ng and verified (every clip passes)."""
    work = kept_work(path)
    run_render(work, RenderConfig())
    run_verify(work, VerifyConfig(max_wer=1000), asr=CountingASR())
    return work


def rewrite(path, change):
    """Rewrite a JSONL file line by line: `change(record)` returns the new record (or the same, edited)."""
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    with open(path, "w") as f:
        f.writelines(json.dumps(change(r)) + "\n" for r in records)


def edit_line(path, line_id, **fields):
    """Set (or, with value `None`, delete) `fields` of the line whose id is `line_id`."""
    def change(r):
        if r.get("id") == line_id:
            for key, value in fields.items():
                if value is None:
                    r.pop(key, None)
                else:
                    r[key] = value
        return r

    rewrite(path, change)


def one_error_line(capsys) -> str:
    """The stderr of a `parass2s build` call that failed on bad input: one `parass2s build: error:` line, no
    traceback."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("parass2s build: error: ")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def files_under(folder):
    return [os.path.join(d, f) for d, _, files in os.walk(folder) for f in files]


# ---- 1. paths in stage files stay inside the work folder ----

@pytest.mark.parametrize("how", ["absolute", "dotdot", "etc-passwd", "symlink"])
def test_export_copies_nothing_from_outside_the_work_folder(tmp_path, how, capsys):
    work = finished_work(tmp_path / "work")
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"SECRET-KEY-MATERIAL" * 20)
    bad = {"absolute": str(secret), "dotdot": "../secret.txt", "etc-passwd": "../../../../../../../../../../etc/passwd",
           "symlink": f"audio/{CLIP}.flac"}[how]
    if how == "symlink":  # the line is untouched; its file now points out of the folder
        os.remove(tmp_path / "work" / "audio" / f"{CLIP}.flac")
        os.symlink(secret, tmp_path / "work" / "audio" / f"{CLIP}.flac")
    else:
        edit_line(work.file("render"), CLIP, file_name=bad)
    out = tmp_path / "out"
    hub = FakeHub()
    with pytest.raises(ValueError) as caught:
        run_export(WorkDir(work.path), ExportConfig(out=str(out), push_to_hub="user/x"), api=hub)
    message = str(caught.value)
    assert "rendered.jsonl" in message and CLIP in message and repr(bad) in message
    assert ("is an absolute path" if how == "absolute" else "leads outside") in message
    assert "--repair" in message
    assert not out.exists() and hub.uploads == []
    for p in files_under(tmp_path / "work"):
        with open(p, "rb") as f:
            assert os.path.islink(p) or b"SECRET" not in f.read()
    # the command line: one error line, exit code 2, nothing exported (nor uploaded)
    assert cli.main(["build", "export", "--in", work.path, "--out", str(out), "--push_to_hub", "user/x"]) == 2
    line = one_error_line(capsys)
    assert "rendered.jsonl" in line and CLIP in line and repr(bad) in line
    assert not out.exists()


def test_verify_reads_no_audio_from_outside_the_work_folder(tmp_path):
    work = kept_work(tmp_path / "work")
    run_render(work, RenderConfig())
    shutil.copy(tmp_path / "work" / "audio" / f"{CLIP}.flac", tmp_path / "outside.flac")  # real audio, elsewhere
    edit_line(work.file("render"), CLIP, file_name="../outside.flac")
    asr = CountingASR()
    with pytest.raises(ValueError, match=rf"rendered\.jsonl.*{CLIP}.*'\.\./outside\.flac' leads outside"):
        run_verify(work, VerifyConfig(max_wer=1000), asr=asr)
    assert asr.clips == 0 and not os.path.exists(work.file("verify"))


def test_render_writes_no_clip_outside_the_audio_folder(tmp_path):
    work = kept_work(tmp_path / "work")
    for stage in ("generate", "filter"):  # a record id that climbs out of audio/ and the work folder
        edit_line(work.file(stage), "emotion-test-0000", id="../../escaped")
    summary = run_render(work, RenderConfig())
    assert not [p for p in files_under(tmp_path) if "escaped" in p]
    failed = {line["id"]: line for line in work.read("render") if line["status"] == "failed"}
    assert set(failed) == {"../../escaped-happy", "../../escaped-sad"}
    assert all("leads outside" in line["reason"] for line in failed.values())
    assert summary["out"] == 6 and summary["dropped_total"] == 2


def test_export_writes_no_file_outside_its_folder(tmp_path):
    work = finished_work(tmp_path / "work")
    evil = "../../../escaped"  # audio/test/<clip id>.flac would climb out of the export folder

    def rename(r):
        for key in ("id", "record_id", "pair_id"):
            if isinstance(r.get(key), str) and r[key].startswith("emotion-test-0000"):
                r[key] = r[key].replace("emotion-test-0000", evil)
        return r

    for stage in ("generate", "filter", "render", "verify"):
        rewrite(work.file(stage), rename)
    with pytest.raises(ValueError, match=r"rendered\.jsonl: clip '\.\./\.\./\.\./escaped-(happy|sad)'.*leads outside"):
        run_export(work, ExportConfig(out=str(tmp_path / "out"), parquet=False))
    assert not [p for p in files_under(tmp_path) if "escaped" in p]


# ---- 2. records without the fields the later stages need ----

@pytest.mark.parametrize("stage", ["filter", "render", "verify", "export"])
def test_a_record_without_text_is_named_not_a_key_error(tmp_path, stage):
    work = finished_work(tmp_path / "work") if stage == "export" else kept_work(tmp_path / "work")
    if stage == "verify":
        run_render(work, RenderConfig())
    edit_line(work.file("generate"), "emotion-test-0001", text=None)
    run = {"filter": lambda: run_filter(work, FilterConfig(), ScriptedLLM(), overwrite=True),
           "render": lambda: run_render(work, RenderConfig()),
           "verify": lambda: run_verify(work, VerifyConfig(max_wer=1000), asr=CountingASR()),
           "export": lambda: run_export(work, ExportConfig(out=str(tmp_path / "out"), parquet=False))}[stage]
    with pytest.raises(ValueError, match=r"generated\.jsonl, line 2: record 'emotion-test-0001': missing field\(s\) "
                                         r"\['text'\]; rerun with --repair"):
        run()


OTHER_FIELDS = {  # case: (stage file, line id, fields to set (None: delete), the stage that reads it, the error)
    "filter line without status": ("filter", "emotion-test-0001", {"status": None}, "render",
                                   r"filtered\.jsonl, line 2: record 'emotion-test-0001': missing field\(s\) \['status'\]"),
    "rendered clip without file_name": ("render", CLIP, {"file_name": None}, "export",
                                        rf"rendered\.jsonl, line 1: record '{CLIP}': missing field\(s\) \['file_name'\]"),
    "generated line without id": ("generate", "emotion-test-0001", {"id": None}, "render",
                                  r"generated\.jsonl, line 2: a record: missing field\(s\) \['id'\]"),
    "generated styles not a list": ("generate", "emotion-test-0001", {"styles": "happy"}, "render",
                                    r"record 'emotion-test-0001': field 'styles' is a str, expected a list"),
    "unknown split": ("generate", "emotion-test-0001", {"split": "../elsewhere"}, "export",
                      r"record 'emotion-test-0001': split '\.\./elsewhere' is not one of \['test', 'train'\]"),
}


@pytest.mark.parametrize("case", sorted(OTHER_FIELDS))
def test_other_required_fields_are_named(tmp_path, case):
    stage, line_id, fields, reader, expected = OTHER_FIELDS[case]
    work = finished_work(tmp_path / "work")
    edit_line(work.file(stage), line_id, **fields)
    with pytest.raises(ValueError, match=expected) as caught:
        if reader == "render":
            run_render(work, RenderConfig())
        else:
            run_export(work, ExportConfig(out=str(tmp_path / "out"), parquet=False))
    assert "--repair" in str(caught.value) and "--overwrite" not in str(caught.value)


# ---- 3. damaged build.json, summary.json and recipes: one error line naming the file ----

@pytest.mark.parametrize("content", ["{not json", "[]", '{"stages": 3}'])
def test_a_damaged_build_json_is_named(tmp_path, content, capsys):
    work = kept_work(tmp_path / "work")
    with open(os.path.join(work.path, "build.json"), "w") as f:
        f.write(content)
    with pytest.raises(ValueError, match=r"build\.json: the build settings file is damaged.*Restore it"):
        work.settings("generate")
    assert cli.main(["build", "render", "--in", work.path]) == 2
    assert os.path.join(work.path, "build.json") in one_error_line(capsys)


def test_a_damaged_summary_json_is_named(tmp_path, capsys):
    work = kept_work(tmp_path / "work")
    with open(os.path.join(work.path, "summary.json"), "w") as f:
        f.write('{"generate": ')
    assert cli.main(["build", "summary", "--in", work.path]) == 2
    line = one_error_line(capsys)
    assert os.path.join(work.path, "summary.json") in line and "run summary is damaged" in line


@pytest.mark.parametrize("content, expected", [
    (None, "no such recipe"),
    ("work_dir: [unclosed\n", "line 2: the recipe is not valid YAML"),
    ("work_dir: w\n  render: {}\n", "line 2: the recipe is not valid YAML (mapping values are not allowed here)"),
    ("- work_dir: w\n", "a recipe is a mapping"),
    ("work_dir: w\nrender: espeak-ng\n", "render must be a mapping"),
])
def test_a_missing_or_malformed_recipe_is_one_error_line(tmp_path, capsys, content, expected):
    path = tmp_path / "recipe.yaml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValueError, match=re.escape(expected)):
        load_recipe(path)
    assert cli.main(["build", "all", "--recipe", str(path)]) == 2
    line = one_error_line(capsys)
    assert str(path) in line and expected in line


# ---- 4. --repair ----

def test_every_stage_command_takes_repair():
    parser = build_parser()
    llm = ["--llm", "m"]
    for argv in (["generate", *llm, "--dimension", "emotion", "--n", "2", "--out", "w"], ["filter", *llm, "--in", "w"],
                 ["render", "--in", "w"], ["verify", "--in", "w"], ["export", "--in", "w", "--out", "o"],
                 ["all", "--recipe", "r.yaml"]):
        assert parser.parse_args([*argv, "--repair"]).repair is True
        assert parser.parse_args(argv).repair is False


def test_repair_moves_a_damaged_middle_line_and_redoes_its_item(tmp_path, tiny, monkeypatch, capsys):
    import yaml

    monkeypatch.setenv(KEY, "sk-test")
    work_dir, out = tmp_path / "work", tmp_path / "out"
    with serve_scripted_llm(ScriptedLLM()) as base:
        recipe = {"work_dir": str(work_dir), "llm": {"model": "scripted", "api_base": base, "api_key_env": KEY},
                  "generate": {"dimension": "emotion", "n": 4},
                  "filter": {}, "render": {"renderer": "espeak-ng"},
                  "verify": {"asr": tiny["asr"], "max_wer": 1000}, "export": {"out": str(out), "parquet": False}}
        path = tmp_path / "recipe.yaml"
        path.write_text(yaml.safe_dump(recipe))
        assert cli.main(["build", "all", "--recipe", str(path)]) == 0
        before = WorkDir(work_dir).summary()
        capsys.readouterr()

        rendered = work_dir / "rendered.jsonl"
        lines = rendered.read_text().splitlines(keepends=True)
        assert len(lines) == 8
        damaged_id = json.loads(lines[2])["id"]
        lines[2] = lines[2][:30] + "\n"  # a middle line cut short: not JSON
        rendered.write_text("".join(lines))

        # without --repair: one clear line naming the file and the line, advising --repair (and --overwrite, with the
        # same settings, changes nothing)
        for argv in (["all", "--recipe", str(path)], ["render", "--in", str(work_dir), "--overwrite"]):
            assert cli.main(["build", *argv]) == 2
            line = one_error_line(capsys)
            assert f"{rendered}, line 3: not a valid record" in line and "--repair" in line
            assert "--overwrite" not in line
        assert rendered.read_text() == "".join(lines)  # nothing changed

        # with --repair: the line moves to rendered.jsonl.rejected, the rest is kept, the clip is rendered again
        assert cli.main(["build", "all", "--recipe", str(path), "--repair"]) == 0
    with open(f"{rendered}.rejected") as f:
        rejected = [json.loads(line) for line in f]
    assert rejected == [{"line": 3, "text": lines[2].rstrip("\n")}]
    after = WorkDir(work_dir).summary()
    assert after["render"]["in"] == 8 and after["render"]["out"] == 8 and after["render"]["already_done"] == 7
    ids = [json.loads(line)["id"] for line in rendered.read_text().splitlines()]
    assert sorted(ids) == sorted([*(json.loads(line)["id"] for i, line in enumerate(lines) if i != 2), damaged_id])
    assert ids[-1] == damaged_id and (work_dir / "audio" / f"{damaged_id}.flac").exists()
    assert after["export"]["out"] == before["export"]["out"] == 8


def test_generate_repair_gives_the_redone_record_a_new_id(tmp_path):
    work = WorkDir(tmp_path / "w")
    config = GenerateConfig(dimension="emotion", n=4)
    run_generate(work, config, ScriptedLLM())
    run_filter(work, FilterConfig(), ScriptedLLM())
    filtered = {line["id"] for line in work.read("filter")}
    with open(work.file("generate")) as f:
        lines = f.readlines()
    target = max(range(len(lines)), key=lambda i: json.loads(lines[i])["id"])  # the newest record of its split
    old_id = json.loads(lines[target])["id"]
    lines[target] = "{damaged\n"
    with open(work.file("generate"), "w") as f:
        f.writelines(lines)
    with pytest.raises(ValueError, match=r"generated\.jsonl, line \d+: not a valid record .*--repair"):
        run_generate(work, config, ScriptedLLM())

    summary = run_generate(work, config, ScriptedLLM(), repair=True)
    assert summary["out"] == 4
    kept = [line["id"] for line in work.read("generate") if line["status"] == "ok"]
    new = set(kept) - filtered
    # a new record never takes the id of one the filter judged (it would inherit that verdict)
    assert len(new) == 1 and old_id not in kept and len(set(kept)) == 4
    with open(work.file("generate") + ".rejected") as f:
        assert json.loads(f.read())["text"] == "{damaged"
    again = run_filter(work, FilterConfig(), ScriptedLLM())
    assert again["in"] == 4 and again["already_done"] == 3 and new <= {line["id"] for line in work.read("filter")}


def test_repair_moves_a_record_without_its_fields(tmp_path):
    work = kept_work(tmp_path / "work")
    edit_line(work.file("generate"), "emotion-test-0001", text=None)
    summary = run_render(work, RenderConfig(), repair=True)
    assert summary["in"] == 6 and summary["out"] == 6
    with open(work.file("generate") + ".rejected") as f:
        [rejected] = [json.loads(line) for line in f]
    assert rejected["line"] == 2 and "missing field(s) ['text']" in rejected["problem"]
    assert json.loads(rejected["text"])["id"] == "emotion-test-0001"
    assert [r["id"] for r in WorkDir(work.path).read("generate")] == [
        "emotion-test-0000", "emotion-train-0002", "emotion-train-0003"]


def test_a_clip_whose_audio_file_is_gone_is_rendered_again(tmp_path):
    work = kept_work(tmp_path / "work")
    run_render(work, RenderConfig())
    os.remove(tmp_path / "work" / "audio" / f"{CLIP}.flac")
    summary = run_render(work, RenderConfig())
    assert summary["already_done"] == 7 and summary["out"] == 8
    assert (tmp_path / "work" / "audio" / f"{CLIP}.flac").exists()


def test_a_clip_rendered_again_is_verified_again(tmp_path):
    """A verdict holds for the audio it was made on: replace a clip (another take, a fixed file) and only that clip
    is transcribed again; unchanged clips keep their verdicts."""
    import soundfile as sf
    from conftest import tone

    work = finished_work(tmp_path / "work")
    path = tmp_path / "work" / "audio" / f"{CLIP}.flac"
    sf.write(path, tone(1.2, 300), 16000)  # a new take of that clip
    asr = CountingASR()
    summary = run_verify(work, VerifyConfig(max_wer=1000), asr=asr)
    assert asr.clips == 1 and summary["already_done"] == 7 and summary["out"] == 8
    again = CountingASR()
    run_verify(work, VerifyConfig(max_wer=1000), asr=again)
    assert again.clips == 0  # nothing changed since


def test_a_stage_that_keeps_nothing_exits_non_zero(tmp_path, monkeypatch, capsys):
    """`build generate` keeping 0 records used to exit 0: the next stages then had nothing to work on."""
    monkeypatch.setenv("PARASS2S_BUILD_TEST_KEY", "sk-test")
    with serve_scripted_llm(ScriptedLLM(bad_json_every=1)) as base:  # every answer is garbage: nothing is kept
        rc = cli.main(["build", "generate", "--llm", "scripted", "--llm_api_base", base, "--llm_api_key_env",
                       "PARASS2S_BUILD_TEST_KEY", "--dimension", "emotion", "--n", "3", "--out", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert rc == 3
    assert "parass2s build: error: generate kept nothing of its " in err and "unparseable output" in err
