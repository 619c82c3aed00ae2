"""The `parass2s` command.

```
parass2s bench load sample --split test          # prepare a ParaS2SBench config and print it
parass2s bench load emotion --data_dir renders/  # your own audio
parass2s bench lint [FILE ...]                   # lint the text layer (default: the shipped one)
parass2s bench card [--check] [--measure]        # (re)generate the dataset card
parass2s bench corpora --iemocap DIR --meld DIR  # what the IEMOCAP/MELD selection rule keeps, by reason
parass2s evaluate --system cascade --asr ... --llm ... --output runs/x   # evaluate a system (see --help)
parass2s compare runs/*                          # leaderboard of several runs
parass2s versus runs/a runs/b --output vs/a-b    # two runs judged pairwise (win rates, position consistency)
parass2s compare --pairwise vs/*                 # Bradley-Terry strengths from versus folders
parass2s report runs/x [runs/y ...]              # rebuild a run's report.json/.md/.png from its results (no model)
parass2s build generate|filter|render|verify|export|all ...   # build ParaS2SBench-style data (see --help)
parass2s validate-judge --ratings ratings.csv --run runs/x      # judge vs human ratings, bias probes
parass2s listen rate --run runs/x --rater alice --output ratings/   # a local page to rate responses
```
"""

from __future__ import annotations

import argparse
import sys

from .cli_style import add_config_file, add_verbosity, dash_aliases, parse_args


def _bench_load(args) -> int:
    from .bench import load_parass2sbench

    # Options left out are None, which the builder treats as not given: the cache is the one `load_dataset` uses.
    ds = load_parass2sbench(args.config, split=args.split, data_dir=args.data_dir, cache_dir=args.cache_dir,
                            renderer=args.renderer, iemocap_dir=args.iemocap_dir, meld_dir=args.meld_dir)
    print(ds)
    return 0


def _bench_lint(args) -> int:
    from .bench.text_lint import main as lint_main

    return lint_main(args.files)


def _bench_card(args) -> int:
    from .bench.card import main as card_main

    return card_main((["--check"] if args.check else []) + (["--measure"] if args.measure else [])
                     + (["--output", args.output] if args.output else []))


def _bench_corpora(args) -> int:
    from .bench.real_corpora import main as corpora_main

    return corpora_main((["--iemocap", args.iemocap] if args.iemocap else []) + (["--meld", args.meld] if args.meld
                                                                                else [])
                        + ["--meld_splits", *args.meld_splits])


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="parass2s", description="ParaS2S: benchmark, judge and alignment.",
        epilog="Each command has its own --help (e.g. `parass2s evaluate --help`). Flags are spelled with "
               "underscores (--data_dir); every command takes --config FILE, a YAML file of its arguments, and "
               "--quiet.")
    parser.add_argument("--version", action="version", version=f"parass2s_hf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="ParaS2SBench: load, lint the texts, generate the card")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)

    load = bench_sub.add_parser("load", help="prepare a config and print it (the cache load_dataset uses)")
    load.add_argument("config", help="sample, emotion, sarcasm, age, gender, synthetic, iemocap, meld or all")
    load.add_argument("--split", choices=["test", "train"], help="one split (default: every split of the config)")
    load.add_argument("--data_dir", help="your audio in the data_dir layout, or the corpus folder (iemocap, meld)")
    load.add_argument("--iemocap_dir", help="folder holding IEMOCAP's Session1 ... Session5 (the 'all' config)")
    load.add_argument("--meld_dir", help="folder holding MELD's CSVs and clip folders (the 'all' config)")
    load.add_argument("--renderer", help="renderer of the text layer (default: espeak-ng)")
    load.add_argument("--cache_dir", help="where prepared data is cached (default: the datasets cache, as "
                                          "load_dataset)")
    load.set_defaults(func=_bench_load)

    lint = bench_sub.add_parser("lint", help="lint a text layer file (default: the shipped one)")
    lint.add_argument("files", nargs="*", metavar="FILE",
                      help="text layer files (JSON lines); none: the shipped text layer, with its full-size counts")
    lint.set_defaults(func=_bench_lint)

    card = bench_sub.add_parser("card", help="generate dataset_card/README.md")
    card.add_argument("--check", action="store_true",
                      help="compare the card file with the generated one instead of writing it: exit 1 if it is out "
                           "of date, 2 if there is no file")
    card.add_argument("--measure", action="store_true",
                      help="prepare the shipped and rendered configs first (minutes) to refresh the hours and sizes")
    card.add_argument("--output", default=None,
                      help="the card file (default: dataset_card/README.md of the repository checkout this package "
                           "runs from, else ./dataset_card/README.md)")
    card.set_defaults(func=_bench_card)

    corpora = bench_sub.add_parser("corpora", help="what the IEMOCAP/MELD selection rule keeps, by reason")
    corpora.add_argument("--iemocap", help="folder holding Session1 ... Session5")
    corpora.add_argument("--meld", help="folder holding MELD's CSVs and clip folders")
    corpora.add_argument("--meld_splits", nargs="+", default=["test"], choices=["train", "dev", "test"],
                         help="MELD splits to draw from (default: test)")
    corpora.set_defaults(func=_bench_corpora)
    for p in (load, lint, card, corpora):
        add_config_file(p)
        add_verbosity(p)
    dash_aliases(bench)  # --data-dir and the other dash spellings: hidden aliases for one release

    # `evaluate`, `compare`, `versus`, `report`, `build` and `validate-judge` parse their own arguments; listed for --help
    sub.add_parser("evaluate", help="evaluate a speech-to-speech system on ParaS2SBench", add_help=False)
    sub.add_parser("compare", help="leaderboard table and figure of several runs (--pairwise: of versus folders)",
                   add_help=False)
    sub.add_parser("versus", help="two runs' responses judged pairwise, in both orders: win / tie / loss",
                   add_help=False)
    sub.add_parser("report", help="rebuild a run folder's report.json/.md/.png from its results, without any model",
                   add_help=False)
    sub.add_parser("build", help="build ParaS2SBench-style data: generate, filter, render, verify, export",
                   add_help=False)
    sub.add_parser("validate-judge", help="judge vs human ratings (Tables 2 and 3), bias probes", add_help=False)
    sub.add_parser("listen", help="a local listening page: rate responses, or verify a build's rendered items",
                   add_help=False)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("evaluate", "compare"):
        from .evaluation import cli as evaluation_cli

        return getattr(evaluation_cli, f"{argv[0]}_main")(argv[1:])
    if argv and argv[0] == "versus":
        from .evaluation.versus_cli import main as versus_main

        return versus_main(argv[1:])
    if argv and argv[0] == "report":
        from .evaluation.report_cli import main as report_main

        return report_main(argv[1:])
    if argv and argv[0] == "build":
        from .construct.cli import main as build_main

        return build_main(argv[1:])
    if argv and argv[0] == "listen":
        from .listen.cli import main as listen_main

        return listen_main(argv[1:])
    if argv and argv[0] == "validate-judge":
        from .validation.cli import main as validate_main

        return validate_main(argv[1:])
    args = parse_args(build_parser(), argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:  # a folder that is not there, a bad setting: one line, not a trace
        print(f"parass2s bench {args.bench_command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
