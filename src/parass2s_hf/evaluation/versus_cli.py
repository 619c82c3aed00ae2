"""`parass2s versus`: two evaluation runs judged pairwise on the queries both answered.

```
parass2s versus runs/cascade runs/omni --output vs/cascade-omni                     # the default multi-stage judge
parass2s versus runs/a runs/b --output vs/a-b --judge_mode end2end --limit 20       # a quick one, audio LLM only
parass2s compare --pairwise vs/*                                                    # Bradley-Terry over versus folders
```
Judge settings are `JudgeConfig`'s fields prefixed `judge_`, as in `parass2s evaluate`; rerunning into the same
`--output` resumes.
"""

from __future__ import annotations

import logging
import os
import sys

from .. import cli_style
from ..cli_style import DefaultsHelpFormatter, add_config_file, add_verbosity, dash_aliases, examples
from ..io import FolderLockedError
from .arguments import JudgeArguments
from .versus import VersusConfig

EXIT_BAD_INPUT, EXIT_NOTHING_JUDGED, EXIT_INTERRUPTED = 2, 3, 130


def build_parser():
    from transformers import HfArgumentParser

    parser = HfArgumentParser((VersusConfig, JudgeArguments), prog="parass2s versus",
                              usage="%(prog)s RUN_A RUN_B --output DIR [options]",
                              description="Judge two evaluation runs' responses to the same queries pairwise, each "
                                          "comparison in both orders (a preference that flips with the order is a "
                                          "tie): win / tie / loss counts and the win rate with bootstrap intervals, "
                                          "per subset and overall, and the position-consistency rate.",
                              epilog=examples(__doc__, only="parass2s versus"), formatter_class=DefaultsHelpFormatter)
    parser.add_argument("runs", nargs="*", metavar="RUN", help="the two run folders (`parass2s evaluate --output`)")
    add_config_file(parser)
    add_verbosity(parser)
    return dash_aliases(parser)


def parse_args(argv: list[str] | None = None) -> tuple:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    path = cli_style.option_value(argv, ("--config",))
    if path is not None:
        parser.set_defaults(**cli_style.read_config_file(parser, os.path.abspath(path)))
    config, judge_args, extra = parser.parse_args_into_dataclasses(argv, look_for_args_file=False)
    cli_style.apply_verbosity(extra.log_level, extra.quiet)
    if len(extra.runs) != 2:
        parser.error(f"give exactly two run folders (got {len(extra.runs)}: {' '.join(extra.runs) or 'none'})")
    return extra.runs, config, judge_args


def run_versus(runs: list[str], config: VersusConfig, judge_args) -> dict:
    """Build the judge and run the comparison; returns the summary."""
    from ..judge import ParaS2SJudge
    from ..models.preflight import judge_checks, preflight
    from .versus import VersusRunner, read_run

    for run in runs:  # a folder that is not a run is named before any model is checked or loaded
        read_run(run)
    judge_config = judge_args.to_config()
    preflight(judge_checks(judge_config))
    if judge_config.cache_dir is None:  # perception is reused when the versus is run again
        judge_config.cache_dir = os.path.join(config.output_dir, "perception_cache")
    return VersusRunner(runs[0], runs[1], ParaS2SJudge(judge_config), config).run()


def main(argv: list[str] | None = None) -> int:
    from .runner import RunStopped

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        runs, config, judge_args = parse_args(argv)
        summary = run_versus(runs, config, judge_args)
    except KeyboardInterrupt:
        print("\nparass2s versus: interrupted; run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, ImportError, ConnectionError, FolderLockedError, RunStopped) as e:
        print(f"parass2s versus: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    out = os.path.abspath(config.output_dir)
    with open(os.path.join(out, "versus.md"), encoding="utf-8") as f:
        print(f.read())
    print("versus: " + ", ".join(os.path.join(out, n) for n in ("versus.md", "versus.json", "versus.png")))
    if not summary["counts"]["ok"]:
        print("parass2s versus: error: no comparison was judged; the reasons are in versus.md.", file=sys.stderr)
        return EXIT_NOTHING_JUDGED
    return 0
