"""The single background thread that samples sensors which need it.

Sensors with ``poll_interval_s`` (RAPL wrap tracking, NVML power polling) are polled on one
daemon thread; a sensor whose ``poll()`` raises is reported through ``on_failure`` once and
never polled again. The thread sleeps on an event, so :meth:`Poller.close` returns at once.

Example::

    >>> poller = Poller([], on_failure=print)
    >>> poller.start(); poller.close(); poller.close()   # idempotent
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable, Sequence

from lightning_carbon.sensors.base import Sensor


class Poller:
    """Polls each sensor every ``sensor.poll_interval_s`` seconds on one daemon thread."""

    def __init__(
        self,
        sensors: Sequence[Sensor],
        on_failure: Callable[[Sensor, BaseException], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sensors = [s for s in sensors if s.poll_interval_s is not None]
        self._on_failure = on_failure
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread if any sensor needs polling; a second call does nothing."""
        with self._lock:
            if self._thread is not None or not self._sensors or self._stop.is_set():
                return
            self._thread = threading.Thread(
                target=self._run, name="lightning-carbon-poller", daemon=True
            )
            self._thread.start()
        _stop_at_exit(self)

    def close(self) -> None:
        """Stop and join the thread; safe to call more than once."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)

    def _run(self) -> None:
        due_s = {id(s): self._clock() + s.poll_interval_s for s in self._sensors}
        while self._sensors and not self._stop.is_set():
            now = self._clock()
            for sensor in list(self._sensors):
                if now >= due_s[id(sensor)]:
                    self._poll_one(sensor)
                    due_s[id(sensor)] = now + sensor.poll_interval_s
            if self._sensors:
                wait_s = min(due_s[id(s)] for s in self._sensors) - self._clock()
                self._stop.wait(max(wait_s, 0.0))

    def _poll_one(self, sensor: Sensor) -> None:
        try:
            sensor.poll()
        except Exception as error:  # a failing sensor must never take the thread down
            self._sensors.remove(sensor)
            self._on_failure(sensor, error)


_live_pollers: weakref.WeakSet[Poller] = weakref.WeakSet()


def _stop_at_exit(poller: Poller) -> None:
    _live_pollers.add(poller)


@atexit.register
def _close_all() -> None:
    for poller in list(_live_pollers):
        poller.close()
