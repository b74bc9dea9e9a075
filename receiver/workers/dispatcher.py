"""The dispatcher: signed deliveries to subscribers, from the outbox, at least once.

Claims due deliveries with a lease (a crash, or a second worker, never loses
or double-claims one: an unexpired lease hides it, an expired one brings it
back), sends each on one of a pool of worker coroutines (one per slot, made
as needed) within a global cap and a per-subscription cap (so one slow or
dead endpoint cannot take every slot),
and records every attempt with what `decide` made of it. Attempts that
finish while earlier ones are being written are written together, in one
unit of work (`record`): one hand-over to the database thread for all of
them rather than one each; while the outbox fills all the room they ride
on the next refill's claim instead, one transaction for both (B3 in
BENCHMARKS.md).

Hand-off: while the dispatcher runs, the transaction that writes an event also
claims its deliveries (`Store.handoff`: this dispatcher) and hands them over
(`take`) when it is committed, so a fresh event is sent at once, without a
claim round trip through the outbox (B5). They wait in `ready` for a free
slot; any still waiting after half their lease, or when the dispatcher stops,
go back to the outbox (due now), so no lease runs out on a delivery we hold.
While READY_PER_SLOT per slot wait already, new deliveries are not claimed at
birth but left due in the outbox, so memory stays bounded when deliveries are
slower than events; and once one is left there, every new one is, until the
outbox has nothing due (a claim that passed over due ones for their
subscription's cap leaves them owed, see `Claimed`): under overload deliveries
go out in order through the outbox, as without hand-off. That path costs more
per delivery (a claim of its own), so hand-offs are declined only past a real
backlog: 16 per slot, 1,024 by default, about half a second of B5's rate (at 4
per slot a start-up hiccup of ~0.2 s sent B5's whole run through the outbox).

Claims ahead: a refill claims up to a second round of deliveries beyond the
slots (and per subscription, up to two rounds of its cap waiting in `ready`),
which wait in `ready` like hand-offs; a worker whose attempt ends starts the
next one waiting there itself. Slots are refilled at once instead of after the
next claim's commit: with claims only for free slots, a third of the time
fewer than 16 of 64 attempts were in flight while a claim was being written
(1 ms samples), and the loop sat idle ~8 us per delivery; with a second round
claimed ahead, 14 % of the time (B3: +4 % over 24 interleaved pairs, 18 of them
faster; a third round left ~3 % under 16, for no more deliveries a second).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Sequence

from yarl import URL

from receiver import __version__
from receiver.core.delivery import AttemptResult, Next, decide
from receiver.core.retry_after import parse_retry_after
from receiver.core.signing import secret_key, signature_header
from receiver.delivery.addresses import AddressRefused, resolve_target, target_without_lookup
from receiver.outbound import OutboundError
from receiver.runtime import Runtime
from receiver.store.records import Attempt, AttemptRecord, DeliveryClaim

log = logging.getLogger("receiver.dispatcher")

USER_AGENT = f"receiver-webhooks/{__version__}"
RESPONSE_KEPT = 1024
IDLE_TICK = 30.0
READY_PER_SLOT = 16  # handed-off deliveries kept waiting, per delivery slot (see above)
REFILL_GAP = 0.010  # refills closer than this wait for more free slots (see _refill_size)
RECORD_WAIT = 0.02  # the longest an attempt's record waits to ride on the next claim
ROUNDS = 2  # rounds of the slots a dispatcher holds: one in flight, one claimed ahead
FAST_ANSWER = 0.5  # seconds: a subscription answering within this may borrow slots (limit)
PACE_WEIGHT = 0.25  # the newest attempt's weight in a subscription's smoothed answer time


class Dispatcher:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.should_exit = False
        self.alive = False
        self.wake = rt.deliveries_wake
        # Worker coroutines, one per delivery slot at most (see _start); started claims
        # wait in `todo` for one, and idle workers wait on a future in `idle`.
        self.workers: set[asyncio.Task[None]] = set()
        self.todo: deque[DeliveryClaim] = deque()
        self.idle: deque[asyncio.Future[None]] = deque()
        self._drained: asyncio.Event | None = None  # set at stop once nothing is in flight
        self.busy: dict[str, int] = {}  # attempts started and not yet ended, by subscription
        # How long each subscription's attempts take, smoothed (see `limit`).
        self.pace: dict[str, float] = {}
        # Attempts started and not yet ended (waiting in `todo` included), counted down
        # when the subscriber has answered, before the attempt's record is queued.
        self.inflight = 0
        # Claimed deliveries waiting for a slot (handed off, or claimed ahead), each with
        # when it was handed over or claimed.
        self.ready: deque[tuple[float, DeliveryClaim]] = deque()
        # Deliveries may be due in the outbox (left there, given back, or owed from
        # before we started) since a claim last found it drained.
        self.backlog = True
        # When the outbox must next be looked at without being told (its earliest due
        # time at the last look; -inf: at the next tick).
        self._look_at = -math.inf
        self._releases: set[asyncio.Task[None]] = set()
        # Attempts waiting for the next write, and the task writing them.
        self._unwritten: list[AttemptRecord] = []
        self._writer: asyncio.Task[None] | None = None
        self._flush_timer: asyncio.TimerHandle | None = None
        self._refilled_at = -math.inf  # when the outbox was last claimed from

    async def run(self) -> None:
        self.alive = True
        self.rt.store.handoff = self
        try:
            while not self.should_exit:
                self.wake.clear()
                try:
                    next_at = await self.tick()
                except Exception:
                    log.exception("dispatcher tick failed")
                    next_at = self.rt.clock.now() + 1.0
                if self.should_exit:
                    break
                await self.rt.clock.sleep_until(next_at, self.wake)
        finally:
            self.alive = False

    async def tick(self) -> float:
        next_at = await self._tick()
        # Deliveries waiting on a capped subscription: look again soon, so none waits
        # past half its lease unseen (see _start_ready).
        return min(next_at, self.rt.clock.now() + 1.0) if self.ready else next_at

    async def _tick(self) -> float:
        rt, settings = self.rt, self.rt.settings
        now = rt.clock.now()
        slots = settings.delivery_concurrency
        if self.ready:
            self._start_ready(now, max(slots - self.inflight, 0))
        room = self._room
        # Refill in batches: with attempts in flight, wait until there is room for a
        # quarter of the slots (three quarters, right after a refill: see _refill_size)
        # rather than claiming one or two each time an attempt ends (a claim is a write,
        # and each round costs the loop as much as a delivery: B3).
        if self.inflight and room < self._refill_size:
            # A finishing attempt wakes us; so does the end of the gap after a refill.
            gap_ends = self._refilled_at + REFILL_GAP
            return gap_ends if now < gap_ends else now + IDLE_TICK
        if not self._must_look(now):
            # Hand-offs bring fresh deliveries, and the outbox owed nothing at the last
            # look: a claim and a due-time read per event cost more than the event's
            # own transaction at a steady rate (B5).
            return min(self._look_at, now + IDLE_TICK)
        if room > 0:
            self._refilled_at = now
            records, self._unwritten = self._unwritten, []
            try:
                claimed = await rt.store.claim_deliveries(
                    now,
                    room,
                    self.lease,
                    self._waiting(),
                    ROUNDS * settings.subscription_concurrency,
                    records,
                )
            except Exception:
                self._unrecorded(records)
                raise
            claims = claimed.deliveries
            if claims:  # they wait in `ready` with the hand-offs, in order
                self.ready.extend((now, claim) for claim in claims)
                self._start_ready(rt.clock.now(), max(slots - self.inflight, 0))
            if len(claims) < room and not claimed.capped:
                # Nothing more is due: hand-offs may resume. (Due deliveries passed over
                # for their subscription's cap are still owed: a hand-off for that
                # subscription would overtake them, and while hand-offs kept its cap
                # full they would wait for the flow to stop: B5's stalls of 5-8 s.)
                self.backlog = False
            if len(claims) == room:  # all the room taken: more may be due, and an
                self._look_at = -math.inf  # ending attempt will wake us for them
                return now + 1.0
        next_due = await rt.store.next_delivery_due()
        current = rt.clock.now()
        later = current + IDLE_TICK
        if next_due is None:
            self._look_at = later
            return later
        if next_due > now:  # not due when we claimed
            if next_due <= current:
                # Due since (the clock moved while we claimed): claim it now, rather than
                # sleep to a floor past it that a manual clock may never reach.
                self._look_at = -math.inf
                return current
            self._look_at = next_due
            return max(next_due, current + 0.05)
        # Due but unclaimable (every slot busy, or its subscription's): look again at
        # each wake, a finished job's among them.
        self._look_at = -math.inf
        return min(later, now + 1.0)

    def _must_look(self, now: float) -> bool:
        """Whether this tick claims from the outbox: when deliveries may wait there
        (declined or given back hand-offs, owed from before, put there by a request),
        or its next due time (a retry, a lease running out) has come."""
        if self.rt.outbox_changed:
            self.rt.outbox_changed = False
            return True
        return self.backlog or now >= self._look_at

    @property
    def handoff_lease(self) -> float | None:
        """How long a transaction should claim its new deliveries for us, or None while
        enough hand-offs wait already: then they go to the outbox, due now, and are
        claimed in turn (in order of creation) with everything else owed."""
        if (
            self.backlog
            or len(self.ready) >= READY_PER_SLOT * self.rt.settings.delivery_concurrency
        ):
            # Once one is declined, decline all until the outbox has nothing due: a
            # hand-off must not overtake what is already waiting there.
            self.backlog = True
            return None
        return self.lease

    def take(self, claims: Sequence[DeliveryClaim]) -> None:
        """Deliveries claimed by the transaction that wrote their event (see the module)."""
        now = self.rt.clock.now()
        self.ready.extend((now, claim) for claim in claims)
        self.wake.set()

    def _start_ready(self, now: float, free: int) -> int:
        """Start waiting deliveries in order, within the per-subscription cap; returns how
        many."""
        settings = self.rt.settings
        started, stale = 0, []
        while self.ready and now - self.ready[0][0] > self.lease / 2:
            stale.append(self.ready.popleft()[1].delivery_id)
        kept: list[tuple[float, DeliveryClaim]] = []
        # `ready` is in the order it was filled, so the stale ones are at its front.
        # Skipping past capped subscriptions, look no further than a round of slots.
        while self.ready and started < free and len(kept) < settings.delivery_concurrency:
            handed_at, claim = self.ready.popleft()
            sub_id = claim.subscription.id
            if self.busy.get(sub_id, 0) >= self.limit(sub_id):
                kept.append((handed_at, claim))
            else:
                self._start(claim)
                started += 1
        self.ready.extendleft(reversed(kept))
        self._release(stale, now)
        return started

    def _release(self, delivery_ids: list[str], now: float) -> None:
        if delivery_ids:
            self.backlog = True  # they are due in the outbox now: let them go first
            task = asyncio.create_task(self.rt.store.release_deliveries(delivery_ids, now))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    def _lease_ends(self, claim: DeliveryClaim) -> None:
        """A claimed delivery comes back when its lease runs out: look then at the latest
        (its lease began before the outbox's next due time was last read, maybe)."""
        self._look_at = min(self._look_at, self.rt.clock.now() + self.lease)

    @property
    def _room(self) -> int:
        """How many more deliveries may be claimed: up to two rounds of the slots, one in
        flight and one waiting in `ready` (hand-offs count; past READY_PER_SLOT rounds of
        them this is negative, and nothing is claimed)."""
        return ROUNDS * self.rt.settings.delivery_concurrency - self.inflight - len(self.ready)

    def limit(self, sub_id: str) -> int:
        """How many attempts a subscription may have in flight at once. Its cap
        (RECEIVER_SUBSCRIPTION_CONCURRENCY) when that is a number; with `auto` (the
        default), 8, or up to half the slots while its attempts answer within
        FAST_ANSWER (smoothed over the last few, see `attempt`).

        The cap keeps a slow or dead endpoint from taking every slot, but a fixed one
        also throttles a fast endpoint while the other slots sit idle: at most cap /
        answer time deliveries a second (B5, one subscriber on loopback, 2,100
        events/s: p99 0.9-3.7 s at a fixed 8, 0.18 s with `auto`). A fast
        endpoint frees its slots as soon as it takes them, so lending it more costs
        the others nothing; one that slows down is back to 8 once its smoothed time
        passes FAST_ANSWER (a timed-out attempt counts its whole timeout), and half the
        slots stay for everyone else even if it hangs with all it borrowed in flight.
        A new subscription starts at 8. Adaptive concurrency limits (Envoy's, Netflix's
        concurrency-limits) work the same way, from observed latency."""
        settings = self.rt.settings
        cap = settings.subscription_concurrency
        if settings.subscription_borrowing and self.pace.get(sub_id, math.inf) <= FAST_ANSWER:
            return max(cap, settings.delivery_concurrency // 2)
        return cap

    def _waiting(self) -> dict[str, int]:
        """Deliveries waiting in `ready`, per subscription: a claim takes no more for a
        subscription than makes ROUNDS rounds of its cap wait (its cap bounds the ones in
        flight), so that a claim for a subscription at its cap brings at least a round."""
        waiting: dict[str, int] = {}
        for _, claim in self.ready:
            sub_id = claim.subscription.id
            waiting[sub_id] = waiting.get(sub_id, 0) + 1
        return waiting

    @property
    def _refill_size(self) -> int:
        """How much room a refill waits for: a quarter of the slots, or three quarters
        within REFILL_GAP of the last refill. A claim is a transaction of its own (with the
        records riding on it, see `record`), so when attempts end fast (the loop, not the
        subscribers, is the limit) fewer, larger claims leave more of the core for the
        deliveries: B3 driver 5,900 -> 6,380 deliveries/s, 1,730 -> 620 transactions per
        30,000. When subscribers are slow, refills are far apart and slots are kept as
        full as with a quarter always (three quarters always: 6,860/s on B3, but ~40 of
        64 slots busy on average with slow subscribers instead of ~56)."""
        slots = self.rt.settings.delivery_concurrency
        if self.rt.clock.now() - self._refilled_at < REFILL_GAP:
            return max(1, slots * 3 // 4)
        return max(1, slots // 4)

    @property
    def lease(self) -> float:
        return 2 * self.rt.settings.delivery_timeout + 5.0

    def _start(self, claim: DeliveryClaim) -> None:
        """Start an attempt on a worker: an idle one is woken, or one more is made while
        there are fewer than the slots. A worker that finishes an attempt takes the next
        start itself, so at a steady rate no task is made, and none woken, per delivery
        (a task per attempt cost ~10 us of the loop each: B3). A start always finds a
        worker: an attempt in flight holds its slot until `_free` (synchronously followed
        by the worker's next look at `todo`), so started-but-not-taken claims never
        outnumber the workers that are idle, woken, or about to look."""
        sub_id = claim.subscription.id
        self.busy[sub_id] = self.busy.get(sub_id, 0) + 1
        self.inflight += 1
        self.todo.append(claim)
        idle = self.idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():  # a worker cancelled at stop leaves a cancelled future
                waiter.set_result(None)
                return
        if len(self.workers) < self.rt.settings.delivery_concurrency:
            task = asyncio.create_task(self._work(), name="deliver")
            self.workers.add(task)
            task.add_done_callback(self.workers.discard)

    async def _work(self) -> None:
        todo, idle = self.todo, self.idle
        loop = asyncio.get_running_loop()
        slots = self.rt.settings.delivery_concurrency
        while True:
            if not todo and self.ready and self.inflight < slots:
                self._start_next()
            if not todo:
                waiter: asyncio.Future[None] = loop.create_future()
                idle.append(waiter)
                await waiter
                continue
            claim = todo.popleft()
            try:
                await self.attempt(claim, self._free)
            except Exception:  # the lease expires and the delivery is tried again
                log.exception("delivery %s failed unexpectedly", claim.delivery_id)
                self._lease_ends(claim)

    def _start_next(self) -> None:
        """A worker whose attempt ended starts the next waiting delivery in its slot:
        the first in `ready` when it is fresh and its subscription under its cap, else
        as `_start_ready` finds them (calling it every time: B3 driver 6,932 -> 6,790/s
        over 4 pairs, its lists and release call per delivery)."""
        handed_at, claim = self.ready[0]
        now = self.rt.clock.now()
        sub_id = claim.subscription.id
        if self.busy.get(sub_id, 0) < self.limit(sub_id) and now - handed_at <= self.lease / 2:
            self.ready.popleft()
            self._start(claim)
        else:
            self._start_ready(now, self.rt.settings.delivery_concurrency - self.inflight)

    def _free(self, claim: DeliveryClaim) -> None:
        """An attempt's slot is free: its exchange with the subscriber is over."""
        self.inflight -= 1
        sub_id = claim.subscription.id
        self.busy[sub_id] -= 1
        if not self.busy[sub_id]:
            del self.busy[sub_id]
        if self._drained is not None and not self.inflight:
            self._drained.set()
        # Wake the loop only when a refill is due (see _tick): the worker itself starts
        # what waits in `ready` (_start_next). A wake per ending attempt cost a whole
        # tick each (B3).
        if self._room >= self._refill_size:
            self.wake.set()

    async def attempt(
        self, claim: DeliveryClaim, free_slot: Callable[[DeliveryClaim], None]
    ) -> None:
        """Send one delivery and queue the attempt's record (see `record`). The slot is
        freed (`free_slot`) as soon as the exchange with the subscriber is over: the
        caps bound requests to subscribers, and a slot held through the commit (an
        fsync) left the dispatcher idle a quarter of the time (B3)."""
        rt = self.rt
        try:
            started_at = rt.clock.now()
            started = time.perf_counter()
            result, kept = await self._send(claim, started_at)
            duration_ms = (time.perf_counter() - started) * 1000
        finally:
            free_slot(claim)
        now = rt.clock.now()
        sub_id = claim.subscription.id
        took = now - started_at
        pace = self.pace.get(sub_id)
        self.pace[sub_id] = took if pace is None else pace + PACE_WEIGHT * (took - pace)
        decision = decide(
            result,
            attempt=claim.attempt,
            schedule=rt.settings.retry_schedule,
            now=now,
            draw=rt.rng.random(),
            failing_since=claim.subscription.failing_since,
            disable_after=rt.settings.disable_after,
        )
        attempt = Attempt(started_at, duration_ms, result.status_code, kept, result.error)
        self.record(AttemptRecord(claim, attempt, decision))
        rt.metrics.deliveries.inc(decision.next.value)
        rt.metrics.delivery_latency.observe(duration_ms / 1000)
        if decision.next is Next.DELIVERED:
            rt.metrics.delivery_lag.observe(max(0.0, now - claim.enqueued_at))

    def record(self, record: AttemptRecord) -> None:
        """Queue an attempt for the next write. Nobody waits for it: until it commits,
        the delivery's lease keeps it from being claimed again, and a write that fails
        (or never happens: a crash) leaves the lease to bring the delivery back.

        While the outbox fills all the room (the last claim took all of it), the next
        refill's claim is coming and carries the records in its own unit of work; they
        wait for it at most RECORD_WAIT, or until two rounds of the slots' records wait
        (a refill comes about when one round's room is free: holding no more than that
        sent them on their own about as often as not), then go on their own. One
        hand-over per refill instead of two, and with refills far apart (see
        _refill_size) no write of records alone in between: that is what let larger
        refills mean fewer commits."""
        self._unwritten.append(record)
        if self._writer is not None:
            return  # it writes what is queued when its current write ends
        held = ROUNDS * self.rt.settings.delivery_concurrency
        if self._look_at == -math.inf and len(self._unwritten) < held:
            if self._flush_timer is None:
                self._flush_timer = asyncio.get_running_loop().call_later(RECORD_WAIT, self._flush)
            return
        self._flush()

    def _flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._unwritten and self._writer is None:
            self._writer = asyncio.create_task(self._write(), name="record-attempts")

    def _unrecorded(self, records: list[AttemptRecord]) -> None:
        if records:
            log.error("recording %d attempts failed; their leases bring them back", len(records))
        for record in records:
            self._lease_ends(record.claim)

    async def _write(self) -> None:
        try:
            while self._unwritten:
                batch, self._unwritten = self._unwritten, []
                try:
                    await self.rt.store.record_attempts(batch, self.rt.clock.now())
                except Exception:
                    log.exception("writing attempts failed")
                    self._unrecorded(batch)
                    continue
                if any(record.decision.next_attempt_at is not None for record in batch):
                    # A retry is now due at its time, not at the lease's end: the loop
                    # may have gone to sleep on the lease while this was being written.
                    self._look_at = -math.inf
                    self.wake.set()
        finally:
            self._writer = None

    async def _send(self, claim: DeliveryClaim, now: float) -> tuple[AttemptResult, str | None]:
        rt, sub = self.rt, claim.subscription
        timestamp = int(now)
        keys = [secret_key(s) for s in sub.signing_secrets(now)]
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": claim.event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(keys, claim.event_id, timestamp, claim.body),
        }
        allow_private = rt.settings.allow_private_urls
        target = target_without_lookup(sub.url, allow_private=allow_private)
        if target is None:
            try:
                target = await resolve_target(
                    sub.url, allow_private=allow_private, resolver=rt.resolver
                )
            except AddressRefused as exc:
                return AttemptResult(None, f"refused destination: {exc}"), None
        server_hostname = None
        if target.pinned:
            # Connect to the checked address; keep the name for Host and TLS.
            headers["host"] = URL(sub.url).raw_authority
            server_hostname = target.host if sub.url.startswith("https:") else None
        try:
            answer = await rt.outbound.post(
                target.url,
                headers=headers,
                body=claim.body,
                within=rt.settings.delivery_timeout,
                keep=RESPONSE_KEPT,
                server_hostname=server_hostname,
            )
        except OutboundError as exc:
            return AttemptResult(None, str(exc)), None
        retry_after = parse_retry_after(answer.headers.get("retry-after"), now=rt.clock.now())
        kept = answer.body.decode("utf-8", "replace")
        return AttemptResult(answer.status, None, retry_after), kept

    async def stop(self, grace: float = 10.0) -> None:
        self.should_exit = True
        self.rt.store.handoff = None
        waiting, self.ready = [claim.delivery_id for _, claim in self.ready], deque()
        self._release(waiting, self.rt.clock.now())
        self.wake.set()
        if self.inflight:
            self._drained = asyncio.Event()
            try:
                await asyncio.wait_for(self._drained.wait(), timeout=grace)
            except TimeoutError:
                pass
        workers, self.workers = self.workers, set()
        for task in workers:  # idle ones, and any attempt still out after the grace
            task.cancel()
        if workers:
            await asyncio.wait(workers)
        # Started claims no worker took (the attempts before them outlasted the grace).
        left, self.todo = [claim.delivery_id for claim in self.todo], deque()
        self._release(left, self.rt.clock.now())
        self._flush()  # the attempts made so far, written before we return
        if self._writer is not None:
            await asyncio.wait({self._writer})
        if self._releases:
            await asyncio.wait(set(self._releases))
