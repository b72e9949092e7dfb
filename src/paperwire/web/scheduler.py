"""The optional digest scheduler (PAPERWIRE_DIGEST_SCHEDULER): `Digests.run()` every ten minutes in a
daemon thread of each web worker, instead of a cron job.

Several workers (or a cron job besides) running it together is safe: runs take the outbox's lock file
in turn, and a period's digest has one key, so the second run finds it done.
"""

from __future__ import annotations

import logging
import threading

from paperwire.config import Settings
from paperwire.digest.service import Digests
from paperwire.library import Library

INTERVAL = 600.0  # seconds between runs; a subscriber's send hour is met within this
log = logging.getLogger("paperwire.digest")


class Scheduler:
    """Runs the digest now and then every `interval` seconds until stopped."""

    def __init__(self, settings: Settings, mail_lock: threading.Lock, interval: float = INTERVAL) -> None:
        self.settings, self.mail_lock, self.interval = settings, mail_lock, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="paperwire-digest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for a run in progress (a daemon: never past `timeout`)."""
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        # A Library of its own: a run composes and then sends every due digest, which must not hold
        # the pages' Library lock all that time.
        with Library(self.settings) as library:
            digests = Digests(library)
            while not self._stop.is_set():
                self.run_once(digests)
                self._stop.wait(self.interval)

    def run_once(self, digests: Digests) -> None:
        """One run; an error is logged and the next run tries again."""
        try:
            with self.mail_lock:
                report = digests.run()
        except Exception:
            log.exception("the scheduled digest run failed; it runs again in %.0f s", self.interval)
            return
        if report.due or report.delivery.sent or report.delivery.deferred:
            log.info(
                "digest run: %d due, %d composed, %d sent, %d deferred, %d failed",
                report.due, report.composed, report.delivery.sent, report.delivery.deferred,
                report.delivery.failed,
            )  # fmt: skip
