"""Group commit: concurrent writers in one process share one transaction, so a commit is paid per group, not per
request.

The first caller to arrive leads: it takes everything queued (up to `max_group`), hands the whole group to `work`
in one transaction (so the rows of many requests go in as one bulk insert) and commits. The leader's transactions
run on one connection kept for them (`Writer`), so a group costs no connection checkout. Callers that arrived
meanwhile wait; they get their result only after the commit, so nothing is reported done that is not durable. When
the leader's own job is done it hands the lead to the oldest waiter, so no caller works for others indefinitely. If
a group's transaction fails, every job is retried in a transaction of its own, so one bad job never fails its
neighbours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from sqlalchemy import Connection

from .database import Store, Writer

Job = TypeVar("Job")
Result = TypeVar("Result")


class _Slot(Generic[Job, Result]):
    __slots__ = ("error", "finished", "job", "leads", "result", "wake")

    def __init__(self, job: Job) -> None:
        self.job = job
        self.wake: threading.Event | None = None  # a caller that has to wait gets one when it queues behind a leader
        self.leads = False
        self.finished = False
        self.result: Result | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[Job, Result]):
    def __init__(self, store: Store, work: Callable[[Connection, list[Job]], list[Result]],
                 max_group: int = 64) -> None:
        self.work = work
        self._writer = Writer(store)
        self.max_group = max_group
        self._lock = threading.Lock()
        self._queue: list[_Slot[Job, Result]] = []
        self._leading = False

    def run(self, job: Job) -> Result:
        """`work(conn, job)` inside a committed transaction, possibly shared with concurrent callers."""
        slot: _Slot[Job, Result] = _Slot(job)
        wake = None
        with self._lock:
            self._queue.append(slot)
            if not self._leading:
                self._leading = slot.leads = True  # and leads until its job is done: it never waits
            else:
                wake = slot.wake = threading.Event()  # only a caller that waits needs one
        while not slot.finished:
            if slot.leads:
                self._lead(slot)
            elif wake is not None:  # always: a caller that does not lead at first queued behind a leader
                wake.wait()
                wake.clear()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self, own: _Slot[Job, Result]) -> None:
        while not own.finished:
            with self._lock:
                group, self._queue = self._queue[: self.max_group], self._queue[self.max_group :]
            self._commit(group)
        with self._lock:
            own.leads = False
            if self._queue:
                successor = self._queue[0]
                successor.leads = True
                if successor.wake is not None:  # always: it queued behind a leader
                    successor.wake.set()
            else:
                self._leading = False

    def _commit(self, group: list[_Slot[Job, Result]]) -> None:
        try:
            with self._writer.transaction() as conn:
                results = self.work(conn, [slot.job for slot in group])
        except BaseException as error:
            if len(group) > 1:  # the transaction rolled back whole: try each job alone
                for slot in group:
                    self._commit([slot])
                return
            group[0].error = error
        else:
            for slot, result in zip(group, results, strict=True):
                slot.result = result
        for slot in group:
            slot.finished = True
            if slot.wake is not None:
                slot.wake.set()

    def close(self) -> None:
        """Give the kept connection back (a leader still running reopens one)."""
        self._writer.close()
