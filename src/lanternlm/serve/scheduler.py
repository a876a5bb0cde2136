"""The serving engine's concurrency policy: one worker thread owns the model, interleaving requests token by token.

Every request that touches a model becomes a *job*: a Python generator whose each `next()` does one small
piece of model work (one decoding step of its choices, or a whole one-shot probe such as an attention map)
and returns an event for the client. The worker runs the active jobs round-robin, one step each:

    waiting queue (FIFO, bounded) -> up to max_active jobs -> step job 1, step job 2, ..., step job 1, ...

Generations share more than the worker: requests for one model join its decoding session
(`generate/session.py`, continuous batching), and the first job of a round to need a new token steps the
whole session — one forward pass for every request in it, each row at its own position, each request with its
own sampler, settings and seeded generator (so a `seed` gives the same text whatever else is running). The
other jobs of the round find their token waiting. A request that finishes or whose client leaves drops out at
once. With `ServeLimits.batching` off, each request decodes alone and rounds interleave them token by token
(benchmarks/serve_load.py measures both side by side).

Round-robin stepping rather than one request at a time keeps time-to-first-token short for everyone: a new
request joins at the next step and starts streaming after one round.

The asyncio side (HTTP) never blocks on the model: events cross back with `loop.call_soon_threadsafe`.
A job whose client has gone is marked cancelled and dropped at its next turn (its generator is closed, so
its KV cache is freed); a job past its deadline fails with `GenerationTimeout`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterator

from ..errors import LanternError


class Overloaded(Exception):
    """Too many requests are waiting already."""


class GenerationTimeout(Exception):
    """A request ran past the server's time limit."""


_EVENT, _DONE, _ERROR, _SILENT = "event", "done", "error", "silent"  # _SILENT: a cancelled job, nobody listens


class Job:
    def __init__(self, steps: Iterator[Any], deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        self.steps = steps
        self.deadline = deadline
        self.cancelled = False  # set from the event loop when the client disconnects
        self._loop = loop
        self._queue: asyncio.Queue = asyncio.Queue()

    def cancel(self) -> None:
        self.cancelled = True

    def _send(self, kind: str, value: Any = None) -> None:
        """Called on the worker thread: hand one item to the event loop (a closed loop means nobody listens)."""
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:
            self.cancelled = True

    async def next_event(self, timeout: float | None = None) -> tuple[bool, Any]:
        """(True, event) for the next event, (False, None) at the end; raises the job's error, or
        asyncio.TimeoutError when nothing arrived within `timeout` seconds (the job keeps running)."""
        kind, value = await asyncio.wait_for(self._queue.get(), timeout)
        if kind == _ERROR:
            raise value
        return kind == _EVENT, value

    async def events(self) -> AsyncIterator[Any]:
        """The job's events as they are produced. Leaving early (a closed stream) cancels the job."""
        try:
            while True:
                more, event = await self.next_event()
                if not more:
                    return
                yield event
        finally:
            self.cancel()  # a no-op when finished; on a disconnect this stops the generation


@dataclass
class SchedulerStats:
    submitted: int = 0
    completed: int = 0
    cancelled: int = 0
    timed_out: int = 0
    failed: int = 0  # the job raised an unexpected error
    invalid: int = 0  # the job found its input bad (a LanternError, reported as a 4xx)
    rejected: int = 0  # refused because the waiting queue was full
    steps: int = 0
    busy_seconds: float = 0.0


class Scheduler:
    def __init__(self, max_active: int = 16, max_waiting: int = 256, timeout: float = 120.0) -> None:
        self.max_active, self.max_waiting, self.timeout = max_active, max_waiting, timeout
        self.stats = SchedulerStats()
        self._waiting: deque[Job] = deque()
        self._active: list[Job] = []
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="lantern-model-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def queued(self) -> int:
        return len(self._waiting)

    @property
    def active(self) -> int:
        return len(self._active)

    def submit(self, steps: Iterator[Any]) -> Job:
        """Queue a job (call from the event loop); raises Overloaded when the waiting queue is full."""
        self.start()  # normally started by the app's lifespan; idempotent
        job = Job(steps, time.monotonic() + self.timeout, asyncio.get_running_loop())
        with self._wake:
            if len(self._waiting) >= self.max_waiting:
                self.stats.rejected += 1
                steps.close() if hasattr(steps, "close") else None
                raise Overloaded(f"{len(self._waiting)} requests are already waiting; try again shortly")
            self._waiting.append(job)
            self.stats.submitted += 1
            self._wake.notify()
        return job

    async def result(self, steps: Iterator[Any], is_disconnected=None, poll: float = 0.25) -> list[Any]:
        """Run a job to the end and return all its events. `is_disconnected` (an async callable) is polled
        every `poll` seconds; a client that has gone cancels the job."""
        job = self.submit(steps)
        collected = []
        checked = time.monotonic()
        try:
            while True:
                try:
                    more, event = await job.next_event(timeout=poll)
                    if not more:
                        return collected
                    collected.append(event)
                except asyncio.TimeoutError:
                    pass
                if is_disconnected is not None and time.monotonic() - checked >= poll:
                    checked = time.monotonic()
                    if await is_disconnected():
                        raise asyncio.CancelledError("client disconnected")
        finally:
            job.cancel()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._waiting and not self._active:
                    self._wake.wait()
                if self._stopping:
                    break
                while self._waiting and len(self._active) < self.max_active:
                    self._active.append(self._waiting.popleft())
            for job in list(self._active):
                ending = self._step(job)
                if ending is not None:
                    self._active.remove(job)  # retired before its client hears it is over: /api/stats agrees
                    self._finish(job, *ending)
        for job in [*self._active, *self._waiting]:  # shutting down: nobody will run these
            self._finish(job, _ERROR, GenerationTimeout("the server is shutting down"))

    def _step(self, job: Job) -> tuple[str, Any] | None:
        """Run one step of `job`: None while it goes on, else how it ended (what its client is told)."""
        if job.cancelled:
            self.stats.cancelled += 1
            return _SILENT, None
        if time.monotonic() > job.deadline:
            self.stats.timed_out += 1
            return _ERROR, GenerationTimeout(f"the request ran past the server's {self.timeout:g} s limit")
        started = time.perf_counter()
        try:
            event = next(job.steps)
        except StopIteration:
            self.stats.completed += 1
            return _DONE, None
        except Exception as exc:  # reported to that client; the worker and other jobs carry on
            if isinstance(exc, LanternError):
                self.stats.invalid += 1
            else:
                self.stats.failed += 1
            return _ERROR, exc
        finally:
            self.stats.steps += 1
            self.stats.busy_seconds += time.perf_counter() - started
        job._send(_EVENT, event)
        return None

    def _finish(self, job: Job, kind: str, value: Any) -> None:
        if kind != _SILENT:
            job._send(kind, value)
        self._close(job)

    @staticmethod
    def _close(job: Job) -> None:
        close = getattr(job.steps, "close", None)
        if close is not None:
            close()  # runs the generator's finally blocks: the engine's decoder and cache are released
