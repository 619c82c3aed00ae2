"""Speaking many replies at once: a pool of threads, order-stable and deterministic.

espeak-ng renders each clip in a forked child (`render.espeak`), so threads that wait on their children run in
parallel; an endpoint renderer (`openai-speech`) overlaps its requests. A renderer whose calls must not overlap (a
transformers TTS model seeded through torch's global generator) declares `parallel_safe = False` and is called in
turn.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor


def default_render_workers() -> int:
    """The cores available to this process (its CPU affinity), shared among the local processes of a distributed run
    (`LOCAL_WORLD_SIZE` under torchrun / accelerate launch); at least 1."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cores // max(1, local))


def render_all(renderer, jobs: Sequence, speak: Callable, workers: int | None = None) -> list:
    """`speak(*job)` for every job, in order; a job that raises gives its exception in its place (one reply's failure
    is that reply's, never the batch's).

    Args:
        renderer: the renderer `speak` uses (its `parallel_safe`, default `True`, allows a pool).
        jobs (`list[tuple]`): the arguments of each call.
        speak (`Callable`): renders one job.
        workers (`int`, *optional*): threads; `default_render_workers()` when unset, 1 renders in turn.
    """

    def one(job):
        try:
            return speak(*job)
        except Exception as e:  # noqa: BLE001 - returned in the job's place
            return e

    workers = default_render_workers() if workers is None else int(workers)
    if workers <= 1 or len(jobs) <= 1 or not getattr(renderer, "parallel_safe", True):
        return [one(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(pool.map(one, jobs))
