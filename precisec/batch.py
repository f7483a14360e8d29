"""Run many independent jobs (one kernel each) in spawned local processes or on a Dask cluster.

`precisec table` and the FPBench corpus benchmark go through `run`. A job is a picklable
call `function(*arguments)`; the results come back in the order of the jobs whatever the
order of completion, so the output of a batch is byte-identical between a local run and a
cluster run. A job that raises becomes a `Failure` in its place (located when the error
is a `PrecisecError`), never a crash of the whole batch. Progress is a tqdm bar on stderr
when stderr is a terminal, nothing otherwise (CI, pipes). docs/scale.md says how to run a
corpus on a cluster.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, TypeVar

from precisec.errors import PrecisecError

R = TypeVar("R")
SCHEDULER_TIMEOUT = "20s"
"""How long to wait for the Dask scheduler before giving up (a wrong address fails fast)."""


@dataclass(frozen=True)
class Failure:
    """A job that raised instead of returning. `where` is `file:line:col` for a
    `PrecisecError` (bad input), None otherwise; `internal` marks an error that is a bug
    or a lost worker rather than bad input or a failed tool (a RuntimeError), and then
    `detail` holds the traceback."""

    label: str
    message: str
    where: str | None = None
    internal: bool = False
    detail: str = ""

    def __str__(self) -> str:
        if self.where is not None:
            return f"{self.where}: error: {self.message}"
        kind = "internal error" if self.internal else "error"
        return f"{self.label}: {kind}: {self.message}"


def _internal(label: str, err: Exception) -> Failure:
    """An exception that is a bug (or a lost worker) as a failure, with its traceback."""
    return Failure(label, f"{type(err).__name__}: {err}", internal=True,
                   detail=traceback.format_exc())


def call(function: Callable[..., R], label: str, arguments: tuple) -> R | Failure:
    """Run one job where it is scheduled; an exception becomes a `Failure`."""
    try:
        return function(*arguments)
    except PrecisecError as err:
        return Failure(label, err.message, str(err.loc))
    except RuntimeError as err:  # a tool failed or timed out (toolchain): not a bug
        return Failure(label, str(err))
    except Exception as err:
        return _internal(label, err)


def run(function: Callable[..., R], jobs: Sequence[tuple], labels: Sequence[str], *,
        workers: int = 1, scheduler: str | None = None, what: str = "jobs"
        ) -> list[R | Failure]:
    """`function(*job)` for every job, in `workers` spawned local processes or on the
    Dask scheduler at `scheduler`; the results (or `Failure`s) in the order of `jobs`.
    `labels` name the jobs in failures and progress; `what` names them on the bar."""
    if len(labels) != len(jobs):
        raise ValueError("one label per job")
    results: dict[int, R | Failure] = {}
    if not jobs:
        return []
    with _progress(len(jobs), what) as bar:
        for index, result in _completions(function, jobs, labels, workers, scheduler):
            results[index] = result
            bar.set_postfix_str(labels[index], refresh=False)
            bar.update()
    return [results[index] for index in range(len(jobs))]


def _progress(total: int, what: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=what, unit="job", file=sys.stderr,
                disable=not sys.stderr.isatty())


def _completions(function: Callable[..., Any], jobs: Sequence[tuple], labels: Sequence[str],
                 workers: int, scheduler: str | None) -> Iterable[tuple[int, Any]]:
    """(job index, result) as the jobs finish, in any order."""
    if scheduler is not None:
        yield from _on_cluster(function, jobs, labels, scheduler)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(call, function, label, job): index
                   for index, (label, job) in enumerate(zip(labels, jobs, strict=True))}
        try:
            for future in as_completed(futures):
                index = futures[future]
                yield index, _outcome(future, labels[index])
        except BaseException:  # Ctrl-C: drop the jobs not yet started
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _on_cluster(function: Callable[..., Any], jobs: Sequence[tuple], labels: Sequence[str],
                scheduler: str) -> Iterable[tuple[int, Any]]:
    from dask.distributed import Client, as_completed

    try:
        client = Client(scheduler, timeout=SCHEDULER_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as err:  # unreachable, or not an address
        raise RuntimeError(f"cannot reach the Dask scheduler at {scheduler}: {err}") from err
    with client:
        futures = {client.submit(call, function, label, job, pure=False): index
                   for index, (label, job) in enumerate(zip(labels, jobs, strict=True))}
        for future in as_completed(futures):
            index = futures[future]
            yield index, _outcome(future, labels[index])


def _outcome(future: Any, label: str) -> Any:
    """The job's result; a future that failed outside `call` (a worker process died, the
    result could not be sent back) is an internal `Failure`."""
    try:
        return future.result()
    except Exception as err:
        return _internal(label, err)


def failures(results: Iterable[Any]) -> list[Failure]:
    """The failed jobs of a batch, in job order."""
    return [r for r in results if isinstance(r, Failure)]


def exit_code(failed: Sequence[Failure]) -> int:
    """The command's exit code for failed jobs: 3 if any is internal, else 2 (0 if none)."""
    if not failed:
        return 0
    return 3 if any(f.internal for f in failed) else 2

