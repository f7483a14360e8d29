"""The batch runner with trivial jobs: results in job order whatever the completion order,
on local processes and on a Dask cluster; a job that raises becomes a failure row."""

from __future__ import annotations

import time

import pytest

from precisec import batch
from precisec.errors import PrecisecError, SourceLoc


def finish_after(delay: float, value: str) -> tuple[str, float]:
    """Sleep, then return the value and when it finished."""
    time.sleep(delay)
    return value, time.monotonic()


def fail(kind: str) -> None:
    if kind == "located":
        raise PrecisecError(SourceLoc("k.c", 3, 7), "no such operation")
    if kind == "tool":
        raise RuntimeError("gcc timed out")
    raise ZeroDivisionError("division by zero")


# The first job finishes last, the last first.
DELAYS = [(1.2, "a"), (0.6, "b"), (0.0, "c")]


def check_order(results: list) -> None:
    assert [value for value, _ in results] == ["a", "b", "c"]
    finished = [when for _, when in results]
    assert finished != sorted(finished), "the jobs did not finish out of order"


def test_local_results_follow_the_jobs_not_the_completions() -> None:
    check_order(batch.run(finish_after, DELAYS, ["a", "b", "c"], workers=3))


def test_cluster_results_follow_the_jobs_not_the_completions() -> None:
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=3, processes=False,
                      dashboard_address=None) as cluster:
        results = batch.run(finish_after, DELAYS, ["a", "b", "c"],
                            scheduler=cluster.scheduler_address)
    check_order(results)


def test_a_failing_job_is_a_row_and_the_others_run() -> None:
    jobs = [("located",), (0.0, "ok"), ("tool",), ("bug",)]
    functions = iter([fail, finish_after, fail, fail])
    results = [batch.call(next(functions), label, job)
               for label, job in zip(["one", "two", "three", "four"], jobs, strict=True)]
    located, ok, tool, bug = results
    assert ok[0] == "ok"
    assert str(located) == "k.c:3:7: error: no such operation" and not located.internal
    assert str(tool) == "three: error: gcc timed out" and not tool.internal
    assert bug.internal and str(bug) == "four: internal error: ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in bug.detail
    assert batch.failures(results) == [located, tool, bug]
    assert batch.exit_code([located, tool]) == 2
    assert batch.exit_code([located, bug]) == 3
    assert batch.exit_code([]) == 0


def test_failures_come_back_from_worker_processes_in_place() -> None:
    results = batch.run(fail, [("located",), ("bug",)], ["one", "two"], workers=2)
    assert [type(r) for r in results] == [batch.Failure, batch.Failure]
    assert results[0].where == "k.c:3:7" and results[1].label == "two"


def test_one_label_per_job() -> None:
    with pytest.raises(ValueError):
        batch.run(fail, [("bug",)], [])
