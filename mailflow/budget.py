"""A time budget for one piece of work in the current thread.

Over the budget, ``OverBudget`` is raised in the thread that is still at work: an asynchronous
exception, the mechanism of dramatiq's own ``time_limit`` (one watchdog thread per process). It
interrupts Python code between two bytecodes; a single call into C that does not return (none of
the readers in ``mailflow.mime`` makes one: they are linear and bounded) would be interrupted
when it returns. The pipeline gives each message one (``[queue] message_time_limit_seconds``).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic

from dramatiq.middleware.time_limit import TimeLimitExceeded


class OverBudget(BaseException):
    """The work went over its time budget (a BaseException, like dramatiq's TimeLimitExceeded, so
    that no ``except Exception`` on the way swallows it)."""


OVER_TIME = (OverBudget, TimeLimitExceeded)
"""What ends work that took too long: our budget, or the actor's time limit."""


def _set_async_exc(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class _Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._deadlines: dict[int, float] = {}
        self._fired: set[int] = set()
        self._thread: threading.Thread | None = None

    def arm(self, thread_id: int, seconds: float) -> None:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="budget-watchdog", daemon=True)
                self._thread.start()
            self._fired.discard(thread_id)
            self._deadlines[thread_id] = monotonic() + seconds
            self._cond.notify()

    def disarm(self, thread_id: int) -> None:
        with self._cond:
            self._deadlines.pop(thread_id, None)
            if thread_id in self._fired:
                # Raised but perhaps not delivered yet: withdrawn, so that it cannot go off later
                # in code that has nothing to do with the budget.
                self._fired.discard(thread_id)
                _set_async_exc(thread_id, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = monotonic()
                for thread_id, at in list(self._deadlines.items()):
                    if at <= now:
                        del self._deadlines[thread_id]
                        self._fired.add(thread_id)
                        _set_async_exc(thread_id, OverBudget)
                upcoming = min(self._deadlines.values(), default=None)
                self._cond.wait(None if upcoming is None else max(0.0, upcoming - now))


_watchdog = _Watchdog()


@contextmanager
def limit(seconds: float | None) -> Iterator[None]:
    """Run the block within ``seconds`` (None: no limit), else raise OverBudget in it."""
    if seconds is None:
        yield
        return
    thread_id = threading.get_ident()
    _watchdog.arm(thread_id, seconds)
    try:
        yield
    finally:
        _watchdog.disarm(thread_id)
