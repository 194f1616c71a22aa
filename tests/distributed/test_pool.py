"""The fault-tolerant work queue, on a real local Ray cluster with toy actors."""

from __future__ import annotations

import itertools
import os
import signal
import time

import pytest

from base_dist.distributed.pool import TaskFailedError, WorkerPool, WorkItem

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]  # a clock that never starts would hang, not fail


@pytest.fixture(scope="module")
def toy_actor(ray_session):
    ray = ray_session

    @ray.remote(num_cpus=0.25, max_restarts=0)
    class Toy:
        def pid(self) -> int:
            return os.getpid()

        def work(self, payload):
            kind, value = payload
            if kind == "boom":
                raise MemoryError("simulated out of memory")
            if kind == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            if kind == "hang":
                time.sleep(600)
            return {"index_seen": value, "pid": os.getpid()}, [value] * 3

    return Toy


def _submit(actor, item):
    return tuple(actor.work.options(num_returns=2).remote(item.payload))


def test_more_items_than_actors_all_complete_in_index_order(ray_session, toy_actor):
    pool = WorkerPool(lambda slot: toy_actor.remote(), size=2, max_retries=2)
    try:
        done = pool.run([WorkItem(i, ("ok", i)) for i in reversed(range(7))], _submit)
        assert [c.item.index for c in done] == list(range(7))
        assert [ray_session.get(c.result_ref) for c in done] == [[i] * 3 for i in range(7)]
        assert len({c.info["pid"] for c in done}) == 2  # both actors took work
    finally:
        pool.close()


def test_dead_worker_is_replaced_and_its_item_rerun(ray_session, toy_actor):
    pool = WorkerPool(lambda slot: toy_actor.remote(), size=2, max_retries=3)
    try:
        calls = {"n": 0}

        def submit_killing_once(actor, item):
            calls["n"] += 1
            payload = ("die", item.index) if (item.index == 1 and item.tries == 0) else item.payload
            return tuple(actor.work.options(num_returns=2).remote(payload))

        done = pool.run([WorkItem(i, ("ok", i)) for i in range(4)], submit_killing_once)
        assert [c.item.index for c in done] == [0, 1, 2, 3]
        assert pool.stats.actor_restarts == 1 and pool.stats.retries == 1
        assert len(pool.pids()) == 2
    finally:
        pool.close()


def test_item_failing_every_try_stops_with_clear_error(ray_session, toy_actor):
    pool = WorkerPool(lambda slot: toy_actor.remote(), size=1, max_retries=2)
    try:
        with pytest.raises(TaskFailedError, match=r"task 0 failed 3 times.*MemoryError"):
            pool.run([WorkItem(0, ("boom", 0))], _submit)
    finally:
        pool.close()


def test_hung_worker_is_replaced_after_the_task_timeout(ray_session, toy_actor):
    pool = WorkerPool(lambda slot: toy_actor.remote(), size=1, max_retries=2, task_timeout_s=3.0)
    try:
        def submit_hanging_once(actor, item):
            payload = ("hang", item.index) if item.tries == 0 else item.payload
            return tuple(actor.work.options(num_returns=2).remote(payload))

        done = pool.run([WorkItem(0, ("ok", 0))], submit_hanging_once)
        assert [c.item.index for c in done] == [0]
        assert pool.stats.actor_restarts == 1 and "task_timeout_s" in pool.stats.errors[0]
    finally:
        pool.close()


@pytest.fixture(scope="module")
def slow_start_actor(ray_session):
    ray = ray_session

    @ray.remote(num_cpus=0.25, max_restarts=0)
    class SlowStart:
        def __init__(self, start_s: float) -> None:
            time.sleep(start_s)  # stands for importing torch and initialising CUDA

        def work(self, payload):
            if isinstance(payload, tuple) and payload[0] == "hang":
                time.sleep(payload[1])
            return {"pid": os.getpid()}, payload

    return SlowStart


def test_task_timeout_does_not_count_the_workers_start_up(ray_session, slow_start_actor):
    # start-up (4 s) is longer than the task timeout (2 s); timed from submission, the task would be
    # taken for a hang on every try and the run would stop
    pool = WorkerPool(lambda slot: slow_start_actor.remote(4.0), size=1, max_retries=0, task_timeout_s=2.0,
                      start_timeout_s=60.0)
    try:
        done = pool.run([WorkItem(0, "ok")], _submit)
        assert [ray_session.get(c.result_ref) for c in done] == ["ok"]
        assert pool.stats.actor_restarts == 0
    finally:
        pool.close()


def test_task_clock_starts_once_the_worker_has_started(ray_session, slow_start_actor):
    # a task that hangs after a slow start-up is still caught by the task timeout, and its retry
    # (on a replacement that starts just as slowly) is not
    pool = WorkerPool(lambda slot: slow_start_actor.remote(3.0), size=1, max_retries=1, task_timeout_s=2.0,
                      start_timeout_s=60.0)
    try:
        def submit_hanging_once(actor, item):
            payload = ("hang", 600) if item.tries == 0 else "ok"
            return tuple(actor.work.options(num_returns=2).remote(payload))

        done = pool.run([WorkItem(0, "ok")], submit_hanging_once)
        assert [ray_session.get(c.result_ref) for c in done] == ["ok"]
        assert pool.stats.actor_restarts == 1 and "task_timeout_s" in pool.stats.errors[0]
    finally:
        pool.close()


@pytest.mark.slow
def test_worker_that_does_not_start_is_replaced(ray_session, slow_start_actor):
    # the first actor never finishes starting, its replacements at once (a Ray worker process itself
    # takes seconds to start on a loaded 2-core machine, hence the generous start limit)
    starts = itertools.chain([600.0], itertools.repeat(0.0))
    pool = WorkerPool(lambda slot: slow_start_actor.remote(next(starts)), size=1, max_retries=1,
                      task_timeout_s=60.0, start_timeout_s=20.0)
    try:
        done = pool.run([WorkItem(0, "ok")], _submit)
        assert [ray_session.get(c.result_ref) for c in done] == ["ok"]
        assert pool.stats.actor_restarts == 1 and "worker_start_timeout_s" in pool.stats.errors[0]
    finally:
        pool.close()
