"""`parass2s build`: the construction pipeline from the command line (see `parass2s_hf.construct`).

Bad input (a damaged stage file, `build.json` or recipe, a path leading outside the work folder, settings that differ
from the last run's, ...) is reported as one line, `parass2s build: error: <what, where, what to do>`, exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ..cli_style import HelpFormatter, add_config_file, add_verbosity, dash_aliases, examples, parse_args
from . import __doc__ as BUILD_DOC
from .workdir import STAGES


def _llm(args):
    from .llm import make_llm

    return make_llm(args.llm, api_base=args.llm_api_base, api_key_env=args.llm_api_key_env,
                    temperature=args.temperature, seed=args.seed)


def _print(summary: dict) -> None:
    print(json.dumps(summary, indent=2))


def _generate(args) -> dict:
    from .generate import GenerateConfig, run_generate
    from .workdir import WorkDir

    config = GenerateConfig(dimension=args.dimension, n=args.n, mode=args.mode, topics=args.topics,
                            test_fraction=args.test_fraction, seed=args.seed)
    return run_generate(WorkDir(args.out, repair=args.repair), config, _llm(args), overwrite=args.overwrite)


def _filter(args) -> dict:
    from .filter import FilterConfig, run_filter
    from .workdir import WorkDir

    return run_filter(WorkDir(args.work, repair=args.repair), FilterConfig(), _llm(args), overwrite=args.overwrite)


def _render(args) -> dict:
    from .render_stage import RenderConfig, run_render
    from .workdir import WorkDir

    try:
        kwargs = json.loads(args.tts_kwargs) if args.tts_kwargs else {}
    except json.JSONDecodeError as e:
        raise ValueError(f"--tts_kwargs {args.tts_kwargs!r} is not valid JSON ({e}); expected an object such as "
                         f"'{{\"device\": \"cuda\"}}'.") from None
    config = RenderConfig(renderer=args.tts, renderer_kwargs=kwargs,
                          **({"voices_per_style": args.voices_per_style} if args.voices_per_style else {}))
    return run_render(WorkDir(args.work, repair=args.repair), config, overwrite=args.overwrite)


def _verify(args) -> dict:
    from .verify import VerifyConfig, run_verify
    from .workdir import WorkDir

    config = VerifyConfig(asr=args.asr, max_wer=args.max_wer, analyzers=_analyzers(args))
    return run_verify(WorkDir(args.work, repair=args.repair), config, overwrite=args.overwrite)


def _analyzers(args) -> dict:
    analyzers = {}
    for pair in args.analyzer or []:
        dim, sep, path = pair.partition("=")
        if not sep or not path:
            raise ValueError(f"--analyzer takes dimension=checkpoint, got {pair!r}.")
        analyzers[dim] = path
    return analyzers


def _export(args) -> dict:
    from .export import ExportConfig, run_export
    from .workdir import WorkDir

    config = ExportConfig(out=args.out, push_to_hub=args.push_to_hub, parquet=not args.no_parquet,
                          max_shard_rows=args.max_shard_rows, private=args.private,
                          allow_voice_overlap=args.allow_voice_overlap)
    return run_export(WorkDir(args.work, repair=args.repair), config, overwrite=args.overwrite)


def _all(args) -> dict:
    from .recipe import load_recipe, run_recipe

    return run_recipe(load_recipe(args.recipe), stages=args.stages, overwrite=args.overwrite, repair=args.repair)


def _summary(args) -> dict:
    from .workdir import WorkDir

    return WorkDir(args.work).summary()


def _checks(args) -> list:
    from . import checks

    command = args.func.__name__.lstrip("_")
    if command in ("generate", "filter"):
        return checks.llm_checks(args.llm, args.llm_api_base, args.llm_api_key_env)
    if command == "render":
        kwargs = json.loads(args.tts_kwargs) if args.tts_kwargs else {}  # bad JSON is named by the stage itself
        return checks.tts_checks(args.tts, kwargs if isinstance(kwargs, dict) else {})
    if command == "verify":
        return checks.verify_checks(args.asr, _analyzers(args))
    if command == "all":
        from .recipe import load_recipe

        return checks.recipe_checks(load_recipe(args.recipe), args.stages)
    return []


def _preflight(args) -> None:
    from ..models.preflight import preflight

    try:
        found = _checks(args)
    except json.JSONDecodeError:
        return  # --tts_kwargs: the render stage names it
    preflight(found)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parass2s build", description="Build ParaS2SBench-style data.",
        epilog=examples(BUILD_DOC) + "\n\nEach stage has its own --help (e.g. `parass2s build render --help`) and "
               "takes --config FILE, a YAML file of its arguments.", formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="stage", required=True)

    def llm_options(p):
        p.add_argument("--llm", required=True, help="local chat model (id or path), or an endpoint's model name")
        p.add_argument("--llm_api_base", help="OpenAI-compatible endpoint (OpenAI, vLLM, TGI)")
        p.add_argument("--llm_api_key_env", default="OPENAI_API_KEY", help="variable holding the endpoint's key")
        p.add_argument("--temperature", type=float, default=0.7, help="the LLM's sampling temperature (default 0.7)")
        p.add_argument("--seed", type=int, default=0, help="seed of the sampling and the topic split (default 0)")

    def common(p, work_flag=True, overwrite_help=None):
        add_config_file(p)
        add_verbosity(p)
        if work_flag:
            p.add_argument("--in", dest="work", required=True, help="the build's work folder")
        p.add_argument("--overwrite", action="store_true",
                       help=overwrite_help or "run with settings other than the last run's: delete this stage's output "
                                              "(and the later stages') first; with the same settings it changes nothing")
        p.add_argument("--repair", action="store_true",
                       help="move the damaged lines of the stage files read (not JSON, or a record without its "
                            "fields) to <file>.rejected and keep the rest; their stage redoes those items")

    p = sub.add_parser("generate", help="an LLM writes candidate texts")
    llm_options(p)
    p.add_argument("--dimension", required=True, help="emotion, sarcasm, age or gender")
    p.add_argument("--n", type=int, required=True, help="records to keep")
    p.add_argument("--mode", default="benchmark", help="benchmark, polytone or sft")
    p.add_argument("--topics", nargs="+", help="topic seeds (default: a built-in list)")
    p.add_argument("--test_fraction", type=float, default=0.75, help="share of topics in the test split")
    p.add_argument("--out", required=True, help="the work folder")
    common(p, work_flag=False)
    p.set_defaults(func=_generate)

    p = sub.add_parser("filter", help="the three LLM tests: neutrality, plausibility, relevance")
    llm_options(p)
    common(p)
    p.set_defaults(func=_filter)

    p = sub.add_parser("render", help="speak every kept text in each style")
    p.add_argument("--tts", default="espeak-ng", help="espeak-ng, a transformers TTS model, or openai-speech[:model]")
    p.add_argument("--tts_kwargs", help="renderer arguments as a JSON object")
    p.add_argument("--voices_per_style", type=int, help="voices per style (default 1; polytone 3)")
    common(p)
    p.set_defaults(func=_render)

    p = sub.add_parser("verify", help="ASR word error rate (and style agreement) per clip")
    p.add_argument("--asr", default="openai/whisper-large-v3", help="speech recogniser")
    p.add_argument("--max_wer", type=float, default=0.1, help="largest word error rate a clip may have (default 0.1)")
    p.add_argument("--analyzer", nargs="+", help="dimension=checkpoint style analyzers")
    common(p)
    p.set_defaults(func=_verify)

    p = sub.add_parser("export", help="data_dir layout, Parquet shards, dataset card")
    p.add_argument("--out", required=True, help="the export folder")
    p.add_argument("--push_to_hub", help="a Hub dataset repo (user/name)")
    p.add_argument("--no_parquet", action="store_true", help="skip the Parquet shards")
    p.add_argument("--max_shard_rows", type=int, default=500, help="rows per Parquet shard")
    p.add_argument("--private", action="store_true", help="make the Hub repo private")
    p.add_argument("--allow_voice_overlap", action="store_true",
                   help="export although a voice is in both splits (a style with one voice); topics never may")
    common(p, overwrite_help="export with settings other than the last export's, and replace an --out folder that "
                             "is not this work folder's export")
    p.set_defaults(func=_export)

    p = sub.add_parser("all", help="every stage of a YAML recipe, in order")
    p.add_argument("--recipe", required=True, help="the recipe: a YAML file of every stage's settings")
    p.add_argument("--stages", nargs="+", choices=STAGES, help="only these stages")
    common(p, work_flag=False)
    p.set_defaults(func=_all)

    p = sub.add_parser("summary", help="print a work folder's run summary")
    p.add_argument("--in", dest="work", required=True, help="the build's work folder")
    add_config_file(p)
    p.set_defaults(func=_summary)
    return dash_aliases(parser)


EXIT_KEPT_NOTHING = 3
"""Exit code of a `parass2s build` stage that kept none of its items (2: bad input, one line)."""


def main(argv: list[str] | None = None) -> int:
    """Run `parass2s build <stage> ...`; returns the exit code (2 for bad input, reported as one line; 3 when a stage
    kept none of its items)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(build_parser(), argv)
    try:
        _preflight(args)  # every model and endpoint the command will use, before any record is touched
        result = args.func(args)
    except ValueError as e:  # bad input (files named in the message): one clear line, not a traceback
        message = " ".join(part.strip() for part in str(e).splitlines() if part.strip())
        print(f"parass2s build: error: {message}", file=sys.stderr)
        return 2
    _print(result)
    # A stage that kept nothing is a failed build, whatever it ran without error: say so, and exit non-zero.
    summaries = [result] if "stage" in result else [v for v in result.values() if isinstance(v, dict) and "stage" in v]
    empty = [s for s in summaries if s.get("in") and not s.get("out")]
    if empty:
        s = empty[0]
        print(f"parass2s build: error: {s['stage']} kept nothing of its {s['in']} item(s) (dropped: "
              f"{s.get('dropped') or {}}); later stages have nothing to work on.", file=sys.stderr)
        return EXIT_KEPT_NOTHING
    return 0
