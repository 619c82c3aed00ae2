"""`parass2s listen`: start a listening page on this machine (127.0.0.1 unless told otherwise).

```
parass2s listen rate   --run runs/omni --run runs/cascade --rater alice --output ratings/ [--per_group 20]
parass2s listen verify --in work/emo --rater bob
```
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..cli_style import HelpFormatter, add_config_file, add_verbosity, dash_aliases, examples, parse_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parass2s listen", description="A local listening page: rate responses, "
                                     "or verify a build's rendered items.", epilog=examples(__doc__),
                                     formatter_class=HelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    rate = sub.add_parser("rate", help="rate (run, id, sample) responses 1-5, blind to the system and the judge")
    rate.add_argument("--run", action="append", default=[], help="an evaluation run folder (repeat for several)")
    rate.add_argument("--rater", required=True, help="your name (letters, digits, - or _): it names your file")
    rate.add_argument("--output", required=True, help="the ratings folder: one <rater>.jsonl per rater, which "
                                                      "`parass2s validate-judge --ratings FOLDER` reads")
    rate.add_argument("--per_group", type=int, default=None,
                      help="at most this many responses per (system, dimension) (default: all)")
    rate.add_argument("--seed", type=int, default=0, help="the selection and, with the rater's name, the order")
    verify = sub.add_parser("verify", help="accept or reject each rendered record of a build's work folder")
    verify.add_argument("--in", dest="work", required=True, help="the build's work folder (after `build verify`)")
    verify.add_argument("--rater", required=True, help="your name (letters, digits, - or _)")
    for p in (rate, verify):
        p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                           "only; 0.0.0.0 opens the page to your network)")
        p.add_argument("--port", type=int, default=None, help="port (default: the first free one from 7860)")
        p.add_argument("--no_browser", action="store_true", help="do not open a browser tab")
        add_config_file(p)
        add_verbosity(p)
    return dash_aliases(parser)


def build_page(args):
    """The Gradio page the arguments describe (not launched)."""
    if args.mode == "rate":
        from .app import rate_page
        from .rating import RatingLog, select_items

        items = select_items(args.run, args.rater, per_group=args.per_group, seed=args.seed)
        return rate_page(items, RatingLog(args.output, args.rater))
    from .app import verify_page

    return verify_page(args.work, args.rater)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(build_parser(), None if argv is None else list(argv))
    try:
        page = build_page(args)
    except (ValueError, FileNotFoundError) as e:  # bad input: one clear line
        print(f"parass2s listen: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"parass2s listen: error: {e}; the page needs Gradio: pip install 'parass2s_hf[listen]'",
              file=sys.stderr)
        return 2
    page.queue().launch(server_name=args.host, server_port=args.port, inbrowser=not args.no_browser,
                        share=False, show_error=True)
    return 0
