"""How every `parass2s` command reads its flags, in one place.

- One flag style: underscores (`--max_wer`), as TRL's scripts and `HfArgumentParser` spell them. The dash spellings
  (`--max-wer`) are accepted as hidden aliases for one release, with a deprecation message.
- `--config FILE`: a YAML file of the command's arguments (keys as the flags, without `--`), as TRL's scripts take
  one; flags on the command line win over the file.
- `--quiet` and `--log_level`: one switch for this package's messages, transformers' and datasets' logs and every
  progress bar (`TQDM_DISABLE=1` silences the bars too).

Only the standard library is imported here: `parass2s --help` and `--version` must answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

LOG_LEVELS = ("debug", "info", "warning", "error")


def dash_aliases(parser: argparse.ArgumentParser, renamed: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """Accept `--a-b` for every `--a_b` flag of `parser` and its subcommands, hidden from `--help`; using one prints
    a deprecation message (the aliases go in the next release). A dash spelling an action lists itself (as
    `HfArgumentParser` adds them) is hidden the same way.

    Args:
        parser (`argparse.ArgumentParser`): the command's parser, built.
        renamed (`dict[str, str]`, *optional*): old flag -> its new name, for flags renamed beyond the spelling
            (e.g. `{"--judge-asr": "--judge_asr_model"}`); deprecated aliases too.
    """
    renamed = dict(renamed or {})
    for action in list(parser._actions):
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                dash_aliases(sub, renamed)
            continue
        longs = [o for o in action.option_strings if o.startswith("--")]
        for option in longs:
            alias = option.replace("_", "-")
            if alias == option:
                continue
            if alias in action.option_strings:  # listed by the action itself: keep it working, out of --help
                action.option_strings.remove(alias)
                parser._option_string_actions.pop(alias, None)
            if alias not in parser._option_string_actions:
                parser._option_string_actions[alias] = _Deprecated(action, alias, option)
        for old, new in renamed.items():
            if new in action.option_strings and old not in parser._option_string_actions:
                parser._option_string_actions[old] = _Deprecated(action, old, new)
    return parser


class _Deprecated(argparse.Action):
    """A hidden alias: forwards to the real action after saying which spelling to use."""

    def __init__(self, target: argparse.Action, alias: str, option: str):
        super().__init__([alias], target.dest, nargs=target.nargs, const=target.const, default=target.default,
                         type=target.type, choices=target.choices, required=False, help=argparse.SUPPRESS,
                         metavar=target.metavar)
        self.target = target
        self.option = option

    def __call__(self, parser, namespace, values, option_string=None):
        _say(f"{parser.prog}: {option_string} is deprecated and goes in the next release: use {self.option}")
        self.target(parser, namespace, values, self.option)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """`--help` with the description and the examples epilog printed as written."""


class DefaultsHelpFormatter(HelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """`HelpFormatter` that adds "(default: X)" to a flag's help where there is a default to show (not `None`, not
    `False`, not already stated in the help)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default in (None, False, argparse.SUPPRESS) or "default" in text:
            return text
        return super()._get_help_string(action)


def examples(doc: str | None, only: str | None = None, title: str = "examples") -> str:
    """The first fenced block of a module docstring (its example commands), as an `--help` epilog; with `only`, the
    commands starting with it (and their continuation lines)."""
    if not doc or "```" not in doc:
        return ""
    lines, keep = [], True
    for line in doc.split("```")[1].strip("\n").splitlines():
        if not line[:1].isspace():
            keep = only is None or line.startswith(only)
        if keep:
            lines.append("  " + line)
    return f"{title}:\n" + "\n".join(lines)


def add_config_file(parser: argparse.ArgumentParser, flag: str = "--config") -> None:
    """Add `--config FILE` (a YAML file of the command's arguments) to `parser`; `parse_args` reads it."""
    parser.add_argument(flag, metavar="FILE", dest="config_file",
                        help="a YAML file of this command's arguments (keys as the flags, without --); flags given "
                             "on the command line win over the file")


def add_verbosity(parser: argparse.ArgumentParser) -> None:
    """Add `--quiet` and `--log_level` to `parser`; `parse_args` applies them."""
    group = parser.add_argument_group("messages")
    group.add_argument("--quiet", action="store_true",
                       help="errors and the result only: no progress bars, no library logs (as --log_level error)")
    group.add_argument("--log_level", choices=LOG_LEVELS, default=None,
                       help="this package's, transformers' and datasets' log level (default: warning)")


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """`parser.parse_args(argv)`, with the YAML of `--config FILE` as defaults and `--quiet`/`--log_level` applied."""
    argv = list(sys.argv[1:] if argv is None else argv)
    path = option_value(argv, ("--config",))
    target = _selected(parser, argv)  # a subcommand's own defaults win over its parent's: set them there
    if path is not None and any(a.dest == "config_file" for a in target._actions):
        target.set_defaults(**read_config_file(target, path))
    args = parser.parse_args(argv)
    apply_verbosity(getattr(args, "log_level", None), getattr(args, "quiet", False))
    return args


def read_config_file(parser: argparse.ArgumentParser, path: str) -> dict:
    """The arguments in the YAML file `path`, checked against `parser`'s flags (a key no flag has is an error)."""
    import yaml

    if not os.path.isfile(path):
        parser.error(f"--config {path}: no such file (expected a YAML file of this command's arguments)")
    try:
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        parser.error(f"--config {path}: not readable YAML ({' '.join(str(e).split())})")
    if not isinstance(values, dict):
        parser.error(f"--config {path}: expected a mapping of argument names to values, got a "
                     f"{type(values).__name__}")
    known = {}  # a key may be the flag (`in`) or the attribute it sets (`work`)
    for action in parser._actions:
        if action.dest in (argparse.SUPPRESS, "help", "config_file") or isinstance(action, _Deprecated):
            continue
        known[action.dest] = action
        known.update({o.lstrip("-").replace("-", "_"): action for o in action.option_strings if o.startswith("--")})
    out, unknown = {}, []
    for key, value in values.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest not in known:
            unknown.append(str(key))
            continue
        action = known[dest]
        if callable(action.type) and isinstance(value, str):  # YAML gives numbers and booleans typed already
            value = action.type(value)
        out[action.dest] = value
    if unknown:
        parser.error(f"--config {path}: unknown argument(s) {', '.join(unknown)} (expected some of: "
                     f"{', '.join(sorted({o[2:] for a in known.values() for o in a.option_strings if o.startswith('--')} or known))})")
    for action in parser._actions:  # a required flag the file gives is not required on the command line any more
        if action.dest in out and action.required:
            action.required = False
    return out


def apply_verbosity(log_level: str | None = None, quiet: bool = False) -> None:
    """Set this package's, transformers' and datasets' loggers; `quiet` also turns every progress bar off."""
    import logging

    level = "error" if quiet else (log_level or None)
    if quiet:
        # read by tqdm, datasets and huggingface_hub (hence transformers) when first imported, and by this package's
        # bars at each bar; libraries imported already are told directly
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["HF_DATASETS_DISABLE_PROGRESS_BARS"] = "1"
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
        if "huggingface_hub" in sys.modules:
            sys.modules["huggingface_hub"].utils.disable_progress_bars()
        if "transformers" in sys.modules:
            sys.modules["transformers"].utils.logging.disable_progress_bar()
        if "datasets" in sys.modules:
            sys.modules["datasets"].disable_progress_bars()
    if level is None:
        return
    number = getattr(logging, level.upper())
    logging.getLogger("parass2s_hf").setLevel(number)
    os.environ["TRANSFORMERS_VERBOSITY"] = level  # read when transformers is first imported
    os.environ["DATASETS_VERBOSITY"] = level
    for name in ("transformers", "datasets"):
        if name in sys.modules:  # already imported: set it there too
            logging.getLogger(name).setLevel(number)
    if quiet:
        warnings.filterwarnings("ignore")


def _selected(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.ArgumentParser:
    """The (sub)command parser `argv` selects: `parass2s build render ...` -> the `render` parser."""
    for token in argv:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None:
            break
        if token in sub.choices:
            parser = sub.choices[token]
    return parser


def option_value(argv: Sequence[str], names: Sequence[str]) -> str | None:
    """The value given to the first of `names` in `argv` (`--x v` or `--x=v`), or `None`."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _say(message: str) -> None:
    print(message, file=sys.stderr)
