"""Figures of the evaluation report: bars of mean judge scores with their confidence intervals, y axis 1-5.

matplotlib is imported inside the functions and only its object API is used (`matplotlib.figure.Figure`, no pyplot),
so plotting works headless and never changes the caller's backend.
"""

from __future__ import annotations

import os

AVERAGE_KEYS = ("synthetic_average", "real_average", "overall")
COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C", "#CCB974",
          "#64B5CD")
SCORE_RANGE = (1, 5)


def _bars(ax, columns_per_series, names, layout, labels, show_n=False):
    """Grouped bars from `SCORE_RANGE[0]` up to each mean, with CI error bars; absent cells are marked, not drawn."""
    width = 0.8 / max(len(columns_per_series), 1)
    low = SCORE_RANGE[0]
    for j, (columns, name) in enumerate(zip(columns_per_series, names)):
        xs, heights, err_lo, err_hi, hatches = [], [], [], [], []
        for i, key in enumerate(layout):
            cell = columns.get(key) or {}
            if cell.get("mean") is None:
                continue
            mean = cell["mean"]
            ci = cell.get("ci") or [mean, mean]
            xs.append(i - 0.4 + width * (j + 0.5))
            heights.append(max(mean - low, 0.0))
            err_lo.append(max(mean - ci[0], 0.0))
            err_hi.append(max(ci[1] - mean, 0.0))
            hatches.append("//" if key in AVERAGE_KEYS else "")
        if not xs:
            continue
        bars = ax.bar(xs, heights, width * 0.95, bottom=low, yerr=[err_lo, err_hi], capsize=3,
                      color=COLORS[j % len(COLORS)], edgecolor="black", linewidth=0.5, label=name)
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
    for i, key in enumerate(layout):
        if all((columns.get(key) or {}).get("mean") is None for columns in columns_per_series):
            ax.text(i, low + 0.08, "absent", ha="center", va="bottom", fontsize=8, color="gray", rotation=90)
    ax.set_xticks(range(len(layout)))
    first = columns_per_series[0] if columns_per_series and show_n else {}
    ax.set_xticklabels([labels.get(k, k) + (f"\nn={first[k]['n']}" if (first.get(k) or {}).get("n") else "")
                        for k in layout])
    ax.set_xlim(-0.6, len(layout) - 0.4)
    ax.set_ylim(*SCORE_RANGE)
    ax.set_ylabel("judge score (1-5)")
    if "synthetic_average" in layout:  # separate synthetic | real | overall
        for key in ("synthetic_average", "real_average"):
            if key in layout:
                ax.axvline(layout.index(key) + 0.5, color="gray", linewidth=0.8, linestyle=":")
    ax.grid(axis="y", alpha=0.3)
    if names:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)


def plot_report(report: dict, path, title: str | None = None) -> str:
    """Bar chart of one report: mean score (and expected score, where there is one) per subset and average, with
    confidence intervals as error bars; averages hatched.

    Args:
        report (`dict`): from `build_report`.
        path (`str` or `os.PathLike`): the PNG to write.
        title (`str`, *optional*): the figure's title (e.g. the system's label).

    Returns:
        `str`: `path`.
    """
    from matplotlib.figure import Figure

    layout, labels = report["layout"], report["layout_labels"]
    metrics = [m for m in ("score", "score_expected") if report.get(m)]
    fig = Figure(figsize=(10, 4.8), layout="constrained")
    ax = fig.add_subplot()
    _bars(ax, [report[m]["columns"] for m in metrics], [{"score": "score", "score_expected": "expected score"}[m]
                                                        for m in metrics], layout, labels, show_n=True)
    boot = report.get("bootstrap") or {}
    ax.set_title(f"{title or 'ParaS2SBench'}: mean judge score, {boot.get('confidence', 0.95):.0%} bootstrap CI")
    path = os.fspath(path)
    fig.savefig(path, dpi=110)
    return path


def plot_leaderboard(rows: list, path, layout, labels) -> str:
    """Grouped bars of several runs' `score` columns (one colour per run), confidence intervals as error bars.

    Args:
        rows (`list[dict]`): leaderboard rows with `label` and `columns` (as `compare_runs` makes them).
        path (`str` or `os.PathLike`): the PNG to write.
        layout (`Sequence[str]`), labels (`dict[str, str]`): column keys and their headers.

    Returns:
        `str`: `path`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(max(10, 1.2 * len(layout) * max(len(rows), 1) / 2), 5), layout="constrained")
    ax = fig.add_subplot()
    _bars(ax, [r["columns"] for r in rows], [r["label"] for r in rows], list(layout), labels)
    ax.set_title("ParaS2SBench leaderboard: mean judge score with bootstrap CI")
    path = os.fspath(path)
    fig.savefig(path, dpi=110)
    return path


def plot_pairwise_leaderboard(rows: list, path, confidence: float = 0.95, title: str | None = None) -> str:
    """Bradley-Terry ratings of several systems, best at the top, their bootstrap intervals as error bars; a dotted
    line at the average rating (1000).

    Args:
        rows (`list[dict]`): rows with `label`, `rating` and `ci` (`[low, high]` or `None`), best first (as
            `pairwise_leaderboard` makes them).
        path (`str` or `os.PathLike`): the PNG to write.
        confidence (`float`, *optional*, defaults to `0.95`): the intervals' level, for the title.
        title (`str`, *optional*): a line above the default title (e.g. a warning).

    Returns:
        `str`: `path`.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, max(2.5, 0.5 * len(rows) + 1.5)), layout="constrained")
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]  # best at the top
    for y, (j, row) in zip(ys, enumerate(rows)):
        ci = row.get("ci") or [row["rating"], row["rating"]]
        ax.errorbar([row["rating"]], [y], xerr=[[max(row["rating"] - ci[0], 0.0)], [max(ci[1] - row["rating"], 0.0)]],
                    fmt="o", capsize=4, color=COLORS[j % len(COLORS)], markeredgecolor="black", markeredgewidth=0.5)
    ax.axvline(1000, color="gray", linewidth=0.8, linestyle=":")
    ax.set_yticks(ys)
    ax.set_yticklabels([row["label"] for row in rows])
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("Bradley-Terry rating (Elo-like: 1000 + 400/ln 10 x log-strength; 400 points = 10:1 odds)")
    ax.grid(axis="x", alpha=0.3)
    heading = f"ParaS2SBench pairwise leaderboard: rating with {confidence:.0%} bootstrap CI"
    ax.set_title(f"{title}\n{heading}" if title else heading)
    path = os.fspath(path)
    fig.savefig(path, dpi=110)
    return path


def plot_versus(summary: dict, path) -> str:
    """Stacked bars of one versus (`parass2s versus`): per subset and overall, the share of comparisons system A won,
    tied and lost, with the count judged; subsets without a judged comparison are marked."""
    from matplotlib.figure import Figure

    a, b = summary["systems"]["a"]["label"], summary["systems"]["b"]["label"]
    cells = [*summary["subsets"].items(), ("overall", summary["overall"])]
    fig = Figure(figsize=(8, max(2.5, 0.45 * len(cells) + 1.6)), layout="constrained")
    ax = fig.add_subplot()
    ys = list(range(len(cells)))[::-1]
    parts = (("wins", f"{a} wins", COLORS[0]), ("ties", "tie", "#BBBBBB"), ("losses", f"{b} wins", COLORS[1]))
    labelled = set()
    for y, (name, cell) in zip(ys, cells):
        n = cell["judged"]
        if not n:
            ax.text(0.01, y, "no judged comparison", va="center", fontsize=8, color="gray")
            continue
        left = 0.0
        for key, label, color in parts:
            share = cell[key] / n
            ax.barh(y, share, left=left, color=color, edgecolor="black", linewidth=0.5,
                    label=None if label in labelled else label)
            labelled.add(label)
            if share >= 0.08:
                ax.text(left + share / 2, y, f"{cell[key]}", ha="center", va="center", fontsize=8)
            left += share
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{name}\nn={cell['judged']}" for name, cell in cells])
    ax.set_xlim(0, 1)
    ax.axvline(0.5, color="black", linewidth=0.8, linestyle=":")
    ax.set_xlabel("share of judged comparisons (position-inconsistent verdicts count as ties)")
    ax.set_title(f"{a} vs {b}")
    if labelled:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
    fig.savefig(path, dpi=110)
    return os.fspath(path)
