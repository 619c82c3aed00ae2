"""How the example scripts end on a setting to fix: one line and exit code 2, never a traceback.

```python
if __name__ == "__main__":
    sys.exit(run_script("train_sft.py", lambda: build_parser().parse_args_and_config(), main))
```
"""

from __future__ import annotations

import sys
from collections.abc import Callable

EXIT_BAD_INPUT, EXIT_INTERRUPTED = 2, 130


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if "bf16/gpu" in text:  # transformers' TrainingArguments on a machine without a GPU
        text += (" The GPU recipes train in bf16: on a machine without a GPU use a *_cpu_smoke.yaml config, or pass "
                 "--bf16 false --use_cpu true.")
    return text


def run_script(name: str, parse: Callable[[], tuple], main: Callable[..., object]) -> int:
    """Parse the arguments with `parse()` and run `main(*arguments)`.

    A setting the arguments' own checks refuse (a `ValueError` while parsing, e.g. `bf16` on a machine without a GPU)
    or one the start-up checks refuse (`PreflightError`: models and endpoints) is printed as `<name>: error: ...`, exit
    code 2; Ctrl-C prints one line, exit code 130. Errors while training are bugs or failures of the run itself and
    keep their traceback.

    Returns:
        `int`: the exit code.
    """
    from .models.preflight import PreflightError

    try:
        arguments = parse()
    except ValueError as e:
        print(f"{name}: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        main(*arguments)
    except PreflightError as e:  # a setting to fix, not a bug: one line per setting
        print(f"{name}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"\n{name}: interrupted; checkpoints saved so far are kept (resume_from_checkpoint).", file=sys.stderr)
        return EXIT_INTERRUPTED
    return 0
