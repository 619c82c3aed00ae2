"""Writing a benchmark's section of `benchmarks/RESULTS.md`: each script owns one `## <script>` section and replaces
it when rerun, leaving the other scripts' sections as they are."""

import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
HEADER = "# Benchmark results\n\nSpeed and memory measured by the scripts in this folder; newest last.\n"


def write_section(section: str, entry: str, path: str = RESULTS) -> str:
    """Put `entry` (starting with `"\\n" + section`) in place of the file's `section`, or append it."""
    text = HEADER
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            text = f.read()
    start = text.find(f"\n{section}")
    if start >= 0:  # replace this script's own section, keep the others
        end = text.find("\n## ", start + 1)
        text = text[:start] + entry.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n" + entry
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path
