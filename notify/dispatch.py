"""ChannelNotifier: the real Notifier. Decides, records and delivers each notification.

For every recipient of a Notification:
  - a family contact must belong to the alert's own household, else the delivery is `refused`;
  - a contact without channel URLs is recorded as `no_channel`;
  - critical alerts go out at once, day or night; other alerts during the contact's quiet
    hours are `held` and sent as one digest per contact when the quiet hours end;
  - everything else is `queued` and sent on a worker thread, each channel URL on its own,
    retried with exponential backoff (real time) until it is delivered or `notify.max_attempts` is spent.
Every attempt is stored (delivery_attempt) before the delivery's final status (sent, partial,
failed, digested), so "was the family told?" has an answer that survives restarts: queued
and held deliveries are picked up again when the notifier starts.
With partitioned alerts engines (alerts/partition.py) each engine's notifier is given the deliveries it owns
(serve_only): it resumes and digests only those, so no contact hears of one delivery twice.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import OperationalError

from alerts.lifecycle import AlertNotFound
from alerts.notifier import Notification
from alerts.store import DeliveryRecord
from alerts.types import Severity
from ground.clock import Clock, SystemClock
from notify.base import NotifierBase
from notify.channels import ChannelSender, SendResult, apply_relays, scheme_of
from notify.links import AckLinks, CheckinAnswer, CheckinLinks
from notify.records import (
    DIGESTED,
    FAILED,
    HELD,
    NO_CHANNEL,
    PARTIAL,
    QUEUED,
    RECORDED,
    REFUSED,
    SENT,
    Attempt,
    PendingDelivery,
    channel_history,
    pending,
    record_attempts,
)
from notify.settings import NotifySettings
from notify.texts import digest_item, render_digest, render_message
from registry.model import ContactInfo, RegistrySnapshot, load_snapshot
from registry.types import Role
from storage.sql import Database

log = logging.getLogger(__name__)
LINK_EVENTS = ("opened", "escalated", "upgraded", "checkin_no_answer", "checkin_unreachable")
DIGEST_CHECK_MS = 30_000


class Sender(Protocol):
    """Sends one message to one channel URL (ChannelSender; tests may use a recording one)."""

    def send(self, url: str, title: str, body: str) -> SendResult: ...


@dataclass(frozen=True, slots=True)
class _Job:
    delivery_id: int
    contact: str
    urls: tuple[str, ...]
    title: str
    body: str
    fresh: bool = True  # no attempt stored yet: skip reading the history
    digest_of: tuple[int, ...] = ()  # the held deliveries a digest stands for


class ChannelNotifier(NotifierBase):
    """Delivers notifications through Apprise with retries, quiet hours and digests."""

    def __init__(self, db: Database, cfg: NotifySettings, clock: Clock | None = None, *, sender: Sender | None = None,
                 registry: Callable[[], RegistrySnapshot] | None = None, resume: bool = True,
                 start: bool = True) -> None:
        """start=False: build it (channels loaded) but send nothing and resume nothing until start() -- a standby
        alerts engine's notifier, started once the engine holds its lease."""
        super().__init__(db, cfg.alerts.timezone)
        self.cfg = cfg
        self.ncfg = cfg.notify
        self.clock = clock or SystemClock()
        self.deliver = self.ncfg.enabled if self.ncfg.enabled is not None else cfg.mode == "prod"
        self.base_url = cfg.api.base_url
        if self.deliver and not cfg.api.public_url:
            log.warning("api.public_url is not set: links in messages point at %s, which phones cannot reach",
                        self.base_url)
        self.links = AckLinks(cfg.api.secret_key.get_secret_value(), self.base_url,
                              int(self.ncfg.ack_link_ttl_h * 3_600_000))
        self.checkin_links = CheckinLinks(cfg.api.secret_key.get_secret_value(), self.base_url,
                                          int(self.ncfg.ack_link_ttl_h * 3_600_000))
        if self.ncfg.relay:
            apply_relays(dict(self.ncfg.relay))
        self.sender: Sender = sender or ChannelSender(self.ncfg.timeout_s)
        self._registry_fn = registry
        self._snapshot: RegistrySnapshot | None = None
        self._pool = ThreadPoolExecutor(self.ncfg.workers, thread_name_prefix="notify")
        self._lock = threading.Lock()
        self._retries: list[tuple[int, int, _Job]] = []
        self._seq = itertools.count()
        self._in_digest: set[int] = set()
        self._inflight = 0
        self._next_digest_check = 0
        self._stop = threading.Event()
        self.errors = 0
        self._owns: Callable[[str, str], bool] | None = None
        self._resume_at_start = resume
        self._thread = threading.Thread(target=self._run, name="notify-timer", daemon=True)
        self._started = False
        if start:
            self.start()

    def start(self) -> None:
        """Start the retry and digest timers and resume what an earlier run left queued (once)."""
        if self._started:
            return
        self._started = True
        self._thread.start()
        if self._resume_at_start:
            self._resume()

    # --- wiring ---------------------------------------------------------------------------

    def bind_registry(self, fn: Callable[[], RegistrySnapshot]) -> None:
        """Use the engine's live registry snapshot (instead of loading one from the store)."""
        self._registry_fn = fn

    def serve_only(self, owns: Callable[[str, str], bool]) -> None:
        """Resume and digest only deliveries for which owns(alert's place, event) is true (set before start())."""
        self._owns = owns

    def _mine(self, deliveries: list[PendingDelivery]) -> list[PendingDelivery]:
        """The deliveries this notifier answers for (all of them unless serve_only was given)."""
        if self._owns is None or not deliveries:
            return deliveries
        places: dict[int, str] = {}
        for alert_id in {d.alert_id for d in deliveries}:
            try:
                places[alert_id] = self.store.get(alert_id).place
            except AlertNotFound:
                places[alert_id] = ""
        return [d for d in deliveries if self._owns(places[d.alert_id], d.event)]

    def registry(self) -> RegistrySnapshot:
        if self._registry_fn is not None:
            return self._registry_fn()
        if self._snapshot is None:
            self._snapshot = load_snapshot(self.db)
        return self._snapshot

    # --- the Notifier seam -----------------------------------------------------------------

    def notify(self, n: Notification) -> None:
        reg = self.registry()
        minute = self.minute_of_day(n.at)
        critical = n.alert.severity is Severity.CRITICAL
        own_places = {node.code for node in reg.ancestors(n.alert.place)} or {n.alert.place}
        records: list[DeliveryRecord] = []
        plans: list[tuple[ContactInfo, str]] = []
        for c in n.recipients:
            if c.role is Role.FAMILY and c.place not in own_places:
                # a family member only ever hears about their own household
                status = REFUSED
                log.error("alert %d: family contact %s is not of place %s; not sent", n.alert.id, c.code,
                          n.alert.place)
            elif not c.channels:
                status = NO_CHANNEL
            elif not self.deliver:
                status = RECORDED
            elif not critical and c.quiet_at(minute):
                status = HELD
            else:
                status = QUEUED
            title, body = ("", "") if status == REFUSED else self._render(n, c)
            records.append(DeliveryRecord(c.code, c.role.value, len(c.channels), c.language, status, title, body,
                                          n.event, n.step))
            plans.append((c, status))
        ids = self.record(n, records)
        if not ids:
            return
        for did, rec, (c, status) in zip(ids, records, plans, strict=True):
            if status == QUEUED:
                self._submit(_Job(did, c.code, c.channels, rec.title, rec.body))
        self.told(n)

    def _render(self, n: Notification, c: ContactInfo) -> tuple[str, str]:
        a = n.alert
        ack = self.links.url(a.id, c.code, n.at) if n.event in LINK_EVENTS and a.active else ""
        console = f"{self.base_url}/family" if c.role is Role.FAMILY else f"{self.base_url}/alerts/{a.id}"
        answers = ("", "")
        if n.event == "checkin" and a.active and c.role is Role.FAMILY:  # the two one-tap answers
            answers = (self.checkin_links.url(CheckinAnswer.OK, a.id, c.code, n.at),
                       self.checkin_links.url(CheckinAnswer.UNREACHABLE, a.id, c.code, n.at))
        return render_message(a, n.event, c, address=n.location, contacts=n.household_contacts, now=n.at,
                              tz=self.tz, ack_url=ack, console_url=console, names=self.registry().address,
                              answer_urls=answers)

    # --- sending ---------------------------------------------------------------------------

    def _submit(self, job: _Job, counted: bool = False) -> None:
        if self._stop.is_set():
            if counted:
                with self._lock:
                    self._inflight -= 1
            return  # stays queued in the store; picked up on the next start
        if not counted:
            with self._lock:
                self._inflight += 1
        self._pool.submit(self._send_logged, job)

    def _send_logged(self, job: _Job) -> None:
        again = False
        try:
            again = self._send(job)
        except OperationalError as exc:
            log.error("alert store unavailable while delivering %d (%s); retrying later", job.delivery_id, exc.orig)
            self._schedule(job, self.ncfg.retry_base_s)
            again = True
        except Exception:  # kept as a counted failure with its traceback; the delivery stays queued in the store
            self.errors += 1
            log.exception("delivery %d failed internally", job.delivery_id)
        finally:
            with self._lock:
                self._inflight -= 1
                if not again:
                    self._in_digest.difference_update(job.digest_of)

    def _send(self, job: _Job) -> bool:
        """One round over the job's channels; True if a retry was scheduled."""
        hist = {} if job.fresh else channel_history(self.db, job.delivery_id)
        attempts: list[Attempt] = []
        for i, url in enumerate(job.urls):
            n, ok = hist.get(i, (0, False))
            if ok or n >= self.ncfg.max_attempts:
                continue
            r = self.sender.send(url, job.title, job.body)
            self.attempted(r.ok)
            attempts.append(Attempt(self.clock.now_ms(), i, scheme_of(url), r.ok, r.error, r.duration_ms,
                                    bool(job.digest_of)))
            hist[i] = (n + 1, r.ok)
        states = [hist.get(i, (0, False)) for i in range(len(job.urls))]
        retry = [n for n, ok in states if not ok and n < self.ncfg.max_attempts]
        delivered = sum(1 for _, ok in states if ok)
        if retry:
            status = None  # still queued (or held, for a digest)
        elif job.digest_of:
            status = DIGESTED if delivered else FAILED
        else:
            status = SENT if delivered == len(job.urls) else PARTIAL if delivered else FAILED
        record_attempts(self.db, job.digest_of or (job.delivery_id,), attempts, status)
        if retry:
            delay = min(self.ncfg.retry_base_s * 2 ** (max(retry) - 1), self.ncfg.retry_max_s)
            self._schedule(_Job(job.delivery_id, job.contact, job.urls, job.title, job.body, False, job.digest_of),
                           delay)
            return True
        if status in (FAILED, PARTIAL):
            log.warning("delivery %d of alert notification to contact %s: %s after %d attempts per channel",
                        job.delivery_id, job.contact, status, self.ncfg.max_attempts)
        return False

    def _schedule(self, job: _Job, delay_s: float) -> None:
        # backoff waits in real time (a channel recovers in real time), whatever clock stamps the records
        with self._lock:
            heapq.heappush(self._retries, (time.monotonic() + delay_s, next(self._seq), job))
            if job.digest_of:
                self._in_digest.update(job.digest_of)

    # --- timers: retries and digests ----------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self.run_due()
            except OperationalError as exc:
                log.error("alert store unavailable for retries/digests (%s); next round retries", exc.orig)

    def run_due(self, now: int | None = None, *, digests: bool = False) -> int:
        """Submit retries that are due and digests whose quiet hours ended; returns jobs submitted."""
        now = self.clock.now_ms() if now is None else now
        due: list[_Job] = []
        mono = time.monotonic()
        with self._lock:
            while self._retries and self._retries[0][0] <= mono:
                due.append(heapq.heappop(self._retries)[2])
            self._inflight += len(due)  # in flight as they leave the heap, so flush() never sees them nowhere
        for job in due:
            self._submit(job, counted=True)
        if digests or now >= self._next_digest_check:
            self._next_digest_check = now + DIGEST_CHECK_MS
            due += self._digests(now)
        return len(due)

    def _digests(self, now: int) -> list[_Job]:
        held = self._mine(pending(self.db, (HELD,)))
        if not held:
            return []
        reg = self.registry()
        contacts = {c.code: c for cs in reg.contacts.values() for c in cs}
        minute = self.minute_of_day(now)
        by_contact: dict[str, list] = defaultdict(list)
        with self._lock:
            busy = set(self._in_digest)
        for d in held:
            if d.id not in busy:
                by_contact[d.contact].append(d)
        jobs = []
        for code, items in by_contact.items():
            c = contacts.get(code)
            if c is None or not c.channels:
                record_attempts(self.db, [d.id for d in items],
                                [Attempt(now, 0, "", False, "contact no longer in the registry or has no channel", 0,
                                         True)], FAILED)
                continue
            if c.quiet_at(minute):
                continue
            lines = []
            for alert_id in sorted({d.alert_id for d in items}):
                try:
                    a = self.store.get(alert_id)
                    lines.append(digest_item(a, c.language, self.tz, reg.location(a.place), reg.address))
                except AlertNotFound:
                    continue
            cap = self.ncfg.digest_max_items
            console = f"{self.base_url}/family" if c.role is Role.FAMILY else f"{self.base_url}/"
            title, body = render_digest(lines[:cap], max(0, len(lines) - cap), c.language, console)
            ids = tuple(d.id for d in items)
            job = _Job(ids[0], code, c.channels, title, body, True, ids)
            with self._lock:
                self._in_digest.update(ids)
            self._submit(job)
            jobs.append(job)
        return jobs

    def _resume(self) -> None:
        """Queued deliveries from before a restart are sent again (their attempts are counted)."""
        queued = self._mine(pending(self.db, (QUEUED,)))
        if not queued:
            return
        contacts = {c.code: c for cs in self.registry().contacts.values() for c in cs}
        for d in queued:
            c = contacts.get(d.contact)
            if c is None:
                record_attempts(self.db, [d.id], [Attempt(self.clock.now_ms(), 0, "", False,
                                                          "contact no longer in the registry", 0)], FAILED)
                continue
            self._submit(_Job(d.id, d.contact, c.channels, d.title, d.body, fresh=False))
        log.info("resumed %d queued deliveries", len(queued))

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until no send is running or queued and no retry is waiting (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._inflight == 0 and not self._retries:
                    return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        """Stop timers and wait for running sends; queued work stays in the store for the next start."""
        self._stop.set()
        if self._started:
            self._thread.join(5)
        self._pool.shutdown(wait=True, cancel_futures=True)

