"""The claim loop of `wapipe worker`.

asyncio + one AsyncConnectionPool: the work is I/O-bound (a database round trip
or an agent call that can take 120 s), so one process keeps many messages in
flight without threads; a connection is taken from the pool only for each short
stored-function call, never held across an agent call, so N concurrent messages
need far fewer than N connections.

Start-up: the worker is ready before it registers in wapipe.workers (which is what
operators, deploy scripts and benches wait for): its pools' connections open and
warmed (a new connection rehearses its first calls, rolled back: a claim here, until
the worker registers; the typing admission in worker.typing_indicator, always), its
LISTEN connection listening. The first messages then pay for no connection, no
PL/pgSQL compile, no plan.

Wake-ups: a dedicated autocommit connection LISTENs for pgmq's insert
notifications; the loop also polls (retries become due without a notification,
and pgmq throttles notifications), faster while the listener is down; the
listener reconnects by itself after a database restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import os
import signal
import socket
import uuid
from typing import Any

import httpx
import psycopg

from wapipe import db
from wapipe.log import get_logger
from wapipe.settings import Settings, load_settings
from worker.agents import NoCookies
from worker.aio import wait_event
from worker.config import WorkerConfig
from worker.errors import ClaimLost, StoreUnavailable
from worker.handler import MessageHandler
from worker.json_columns import read_json_with_orjson
from worker.media import MediaFetcher
from worker.metrics import MetricsServer, WorkerMetrics
from worker.registry import ServiceRegistry
from worker.sender import run_sender
from worker.store import ClaimedMessage, Store
from worker.typing_indicator import TypingIndicator
from worker.workflows import WorkflowEngine, default_engine

log = get_logger("worker")

FALLBACK_POLL_SECONDS = 0.25  # while the notification connection is down
# pgmq sends at most one notification per 250 ms; a message inserted right after
# one is covered by this extra look shortly after every wake-up.
NOTIFY_THROTTLE_SECONDS = 0.3
# Debounce: the user's quiet period is the database's measure (extend_turn: its clock,
# the messages' arrival times); the worker asks again at least this often.
DEBOUNCE_RECHECK_SECONDS = 1.0
# Start-up: how long to wait for the pools' warmed connections before trying again, and
# for the LISTEN connection before registering without it (the loop polls meanwhile).
READY_TIMEOUT_SECONDS = 10.0
LISTEN_WAIT_SECONDS = db.CONNECT_TIMEOUT_SECONDS + 1.0
# The cyclic garbage collector's young-generation threshold while a worker runs
# (Python's default: 700). See GarbageCollectorSettled.
GC_YOUNG_THRESHOLD = 20_000


class GarbageCollectorSettled:
    """The collector's settings while workers run in this process (a worker enters when
    it starts and leaves when it stops; the last one out restores Python's).

    The start-up heap (modules, settings, pools, clients: some 65 000 objects that live
    as long as the worker) is moved out of the collector's sight (gc.freeze), and the
    young generation is collected every GC_YOUNG_THRESHOLD allocations instead of 700.
    A claimed message's objects live until its completion, so under load the young
    generation filled every few messages and each full collection walked the whole
    start-up heap: 20-40 us of CPU per message on the bench machine, in the one thread
    that claims and completes. Reference counting still frees nearly everything at
    once; only cyclic garbage waits a little longer.
    """

    _workers = 0
    _saved: tuple[int, int, int] = (700, 10, 10)

    @classmethod
    def enter(cls) -> None:
        cls._workers += 1
        if cls._workers > 1:
            return
        cls._saved = gc.get_threshold()
        gc.collect()  # no garbage frozen with the live heap
        gc.freeze()
        gc.set_threshold(GC_YOUNG_THRESHOLD, *cls._saved[1:])

    @classmethod
    def leave(cls) -> None:
        cls._workers -= 1
        if cls._workers == 0:
            gc.unfreeze()
            gc.set_threshold(*cls._saved)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        database_url: str,
        *,
        worker_id: str | None = None,
        workflows: WorkflowEngine | None = None,
        client: httpx.AsyncClient | None = None,
        health_checks: bool = True,
        sender: bool = False,
        metrics_port: int = 0,
        metrics_refresh_seconds: float = 15.0,
        settings: Settings | None = None,
    ) -> None:
        self.config = config
        # Graph API (read + typing, media, the sender), metrics host: from the entry
        # point; tests and benches leave it out and get the environment's.
        self.settings = settings or load_settings()
        self.worker_id = worker_id or new_worker_id()
        self.store = Store(
            database_url,
            min_size=2,
            max_size=min(config.concurrency + 4, 40),
            configure=self._warm_connection,
        )
        # one client for every agent call: keep-alive connections are reused; no
        # cookie jar (one client serves every user: see worker.agents.NoCookies)
        self.client = client or httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=config.concurrency * 2 + 10,
                max_keepalive_connections=config.concurrency + 10,
            ),
        )
        self.client.cookies = NoCookies()
        # metrics_port 0: counted all the same, served by nobody (tests, benchmarks)
        self.metrics = WorkerMetrics()
        self.metrics_port = metrics_port
        self.metrics_refresh_seconds = metrics_refresh_seconds
        self.metrics_server: MetricsServer | None = None
        self.registry = ServiceRegistry(
            config, self.store, self.client, self.worker_id, self.metrics
        )
        self.typing = TypingIndicator.create(
            self.settings,
            config.typing,
            self.store.pool,
            self.metrics,
            self.settings.sender.rate_per_second,
        )
        self.media = MediaFetcher.create(
            self.settings, config.media, self.store.pool, self.metrics, self.worker_id
        )
        self.handler = MessageHandler(
            config,
            self.store,
            self.registry,
            workflows or default_engine(),
            self.worker_id,
            self.metrics,
            typing=self.typing,
            media=self.media,
        )
        self.health_checks = health_checks
        self.sender = sender
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()
        self.listening = False
        self._listened = asyncio.Event()  # the LISTEN connection listened once
        self.registered = False
        # Every message this worker holds, from its claim until its outcome is recorded.
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        # Those of them still being handled (agent or workflow), not yet handed over to
        # their recording: `concurrency` bounds these.
        self.handling: set[int] = set()
        self._beats: dict[int, asyncio.TimerHandle] = {}  # next claim extension per message
        self._keepers: set[asyncio.Task[None]] = set()
        self.handled = 0

    # -- life cycle -------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)

    def request_stop(self) -> None:
        if not self.stop.is_set():
            log.info("worker_stopping", in_flight=len(self.in_flight))
        self.stop.set()
        self.wake.set()

    async def run(self) -> None:
        await self.store.open()
        GarbageCollectorSettled.enter()
        background: list[asyncio.Task[Any]] = []
        try:
            background.append(asyncio.create_task(self._listen(), name="listen"))
            await self._start_up()
            background.append(
                asyncio.create_task(self._worker_heartbeat(), name="worker-heartbeat")
            )
            if self.sender:
                # the outbox sender shares the pool; it stops with the claim loop
                background.append(
                    asyncio.create_task(
                        run_sender(
                            self.store.pool,
                            self.settings,
                            self.stop,
                            self.worker_id,
                            metrics=self.metrics,
                        ),
                        name="sender",
                    )
                )
            if self.metrics_port:
                self.metrics_server = MetricsServer.start(
                    self.metrics, self.settings.worker.metrics_host, self.metrics_port
                )
                background.append(
                    asyncio.create_task(
                        self.metrics.refresh_loop(self.store.pool, self.metrics_refresh_seconds),
                        name="metrics-gauges",
                    )
                )
            if self.health_checks:
                background.append(
                    asyncio.create_task(
                        self.registry.health_loop(self.config.health_interval_seconds),
                        name="health-checks",
                    )
                )
            log.info(
                "worker_started",
                worker_id=self.worker_id,
                concurrency=self.config.concurrency,
                batch=self.config.batch,
                lock_seconds=self.config.lock_seconds,
            )
            await self._claim_loop()
            await self._drain()
        finally:
            GarbageCollectorSettled.leave()
            for beat in self._beats.values():
                beat.cancel()
            background.extend(self._keepers)
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.registry.close()
            with contextlib.suppress(Exception):
                await self.typing.aclose()
            with contextlib.suppress(Exception):
                await self.media.aclose()
            with contextlib.suppress(Exception):
                await self.store.worker_stopped(self.worker_id)
            if self.metrics_server is not None:
                self.metrics_server.stop()
            await self.client.aclose()
            await self.store.close()
            log.info("worker_stopped", worker_id=self.worker_id, handled=self.handled)

    async def _start_up(self) -> None:
        """Ready, then registered (see the module docstring); tried again while the
        database is away."""
        delay = 0.5
        while not self.stop.is_set():
            try:
                await db.ready(self.store.pool, READY_TIMEOUT_SECONDS)
                await self.typing.start(READY_TIMEOUT_SECONDS)
                if not await wait_event(self._listened, LISTEN_WAIT_SECONDS):
                    log.warning("worker_registered_before_listening")
                await self.store.register_worker(
                    self.worker_id,
                    socket.gethostname(),
                    os.getpid(),
                    {
                        "concurrency": self.config.concurrency,
                        "batch": self.config.batch,
                        "services": sorted(self.registry.services),
                    },
                )
                await self.registry.configure_breakers()
                self.registered = True
                return
            except StoreUnavailable as exc:
                log.warning("database_unavailable", error=str(exc), retry_in_s=delay)
                await self._sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _warm_connection(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """The store pool's `configure`: a new connection reads JSON columns with orjson
        (worker.json_columns) and rehearses a claim (rolled back), until the worker has
        registered. Not later: a rehearsed claim locks a queued head for its moment, and
        a claim running meanwhile (this worker's, once it claims) skips it, leaving that
        message for the next look (up to a poll interval). Before registering, only
        other workers may skip one message that long."""
        read_json_with_orjson(conn)
        if self.registered:
            return
        refused = await self.store.warm_connection(
            conn, self.worker_id, self.config.lock_seconds, self.handler.routing
        )
        if refused is not None:
            log.info("connection_not_warmed", reason=refused)

    async def _sleep(self, seconds: float) -> None:
        await wait_event(self.stop, seconds)

    # -- claiming ---------------------------------------------------------------

    async def _claim_loop(self) -> None:
        cfg = self.config
        failures = 0
        recheck_at: float | None = None
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            free = self._free_slots()
            want = min(cfg.batch, free)
            claimed: list[ClaimedMessage] = []
            # While busy, claim once a few slots are free rather than one message per
            # finished one: fewer, fuller claims (each claim is a round trip + set_vt).
            worth_it = free >= max(1, min(cfg.batch, cfg.concurrency) // 4) or not self.handling
            if want > 0 and worth_it:
                self.wake.clear()
                try:
                    claimed = await self.store.claim(
                        self.worker_id, cfg.lock_seconds, want, self.handler.routing
                    )
                    failures = 0
                except StoreUnavailable as exc:
                    failures += 1
                    delay = min(0.25 * 2 ** min(failures, 5), 5.0)
                    log.warning("claim_failed", error=str(exc), retry_in_s=delay)
                    await self._sleep(delay)
                    continue
                for msg in claimed:
                    self._start(msg)
                if claimed:
                    # Each claim is extended every lock/3 while its handler runs. The first
                    # extensions of a batch (claimed together: the same lease) share one timer,
                    # which finds the messages still held by id; almost every message is done
                    # long before it fires. Later beats are a timer per message (_keep_lock).
                    loop.call_later(
                        cfg.lock_seconds / 3,
                        self._first_beats,
                        [(msg.msg_id, msg.user) for msg in claimed],
                    )
                if len(claimed) == want:
                    continue  # probably more waiting
            else:
                # No room worth a claim: the next finished message wakes the loop (its
                # done callback sets wake). A wake-up left set by a notification would
                # otherwise turn this wait into a busy loop while the worker is full.
                self.wake.clear()
            timeout = cfg.poll_interval_seconds if self.listening else FALLBACK_POLL_SECONDS
            if recheck_at is not None:
                timeout = max(0.0, min(timeout, recheck_at - loop.time()))
            woke = await wait_event(self.wake, timeout)
            if woke and free > 0:
                recheck_at = loop.time() + NOTIFY_THROTTLE_SECONDS
            elif recheck_at is not None and loop.time() >= recheck_at:
                recheck_at = None

    def _free_slots(self) -> int:
        """How many more messages to claim now.

        `concurrency` messages are handled at once. A handled message hands over its
        slot when only the recording of its outcome remains (complete_messages, which
        coalesces the completions of many): the next claim then runs while those
        completions commit, on another connection, instead of after them. At most
        `concurrency` more messages wait for their recording, so a slow database
        slows the claims down rather than piling up claimed messages.
        """
        cfg = self.config
        return min(cfg.concurrency - len(self.handling), 2 * cfg.concurrency - len(self.in_flight))

    def _start(self, msg: ClaimedMessage) -> None:
        task = asyncio.create_task(self._run_one(msg), name=f"msg-{msg.msg_id}")
        self.in_flight[msg.msg_id] = task
        self.handling.add(msg.msg_id)

        def done(_: asyncio.Task[None]) -> None:
            self.in_flight.pop(msg.msg_id, None)
            self.handling.discard(msg.msg_id)
            self.handled += 1
            self.wake.set()  # a slot is free

        task.add_done_callback(done)

    def _handed_over(self, msg_id: int) -> None:
        if msg_id in self.handling:
            self.handling.discard(msg_id)
            self.wake.set()  # a handling slot is free

    async def _run_one(self, msg: ClaimedMessage) -> None:
        try:
            if msg.burst is not None:
                msg = await self._debounce(msg)
            await self.handler.handle(msg, lambda: self._handed_over(msg.msg_id))
            self.handled += msg.turn_size - 1  # a burst's texts were handled in its turn
        finally:
            beat = self._beats.pop(msg.msg_id, None)
            if beat is not None:
                beat.cancel()

    async def _debounce(self, msg: ClaimedMessage) -> ClaimedMessage:
        """A head that opened a turn, for a service with debounce_seconds: wait until the
        user has been quiet that long (texts still being typed join the turn), at most
        debounce_max_seconds; the lease is kept meanwhile. Which texts join is the
        database's rule (extend_turn); this only decides how long to wait."""
        agent = msg.context.agent if msg.context is not None else None
        if msg.burst is None or agent is None:
            return msg
        try:
            service = self.config.service(agent)
        except KeyError:
            return msg
        if service.debounce_seconds <= 0:
            return msg
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + service.debounce_max_seconds
        burst = msg.burst
        while True:
            try:
                burst, quiet = await self.store.extend_turn(
                    msg.msg_id, self.worker_id, service.coalesce_seconds
                )
            except (ClaimLost, StoreUnavailable):
                break  # the handler finds out and acts as for any message
            wait = min(
                service.debounce_seconds - quiet,
                give_up_at - loop.time(),
                DEBOUNCE_RECHECK_SECONDS,
            )
            if wait <= 0 or await wait_event(self.stop, wait):
                break
        return dataclasses.replace(msg, burst=burst)

    def _first_beats(self, claimed: list[tuple[int, str]]) -> None:
        """A batch's first claim extensions: each message still handled gets its beat."""
        for msg_id, user in claimed:
            task = self.in_flight.get(msg_id)
            if task is not None:
                self._extend_lock(msg_id, user, task)

    def _extend_lock(self, msg_id: int, user: str, handler_task: asyncio.Task[None]) -> None:
        if handler_task.done():
            return
        keeper = asyncio.create_task(self._keep_lock(msg_id, user, handler_task))
        self._keepers.add(keeper)
        keeper.add_done_callback(self._keepers.discard)

    async def _keep_lock(self, msg_id: int, user: str, handler_task: asyncio.Task[None]) -> None:
        """One beat: extend the claim; lost claim -> stop the handler; else plan the next."""
        try:
            held = await self.store.extend_lock(msg_id, self.worker_id, self.config.lock_seconds)
        except StoreUnavailable:
            held = True  # the lease still runs; try again at the next beat
        if handler_task.done():
            return
        if not held:
            log.warning("claim_lost", msg_id=msg_id, user=user)
            handler_task.cancel()
            return
        self._beats[msg_id] = asyncio.get_running_loop().call_later(
            self.config.lock_seconds / 3, self._extend_lock, msg_id, user, handler_task
        )

    # -- stopping ---------------------------------------------------------------

    async def _drain(self) -> None:
        """Let in-flight messages finish within the grace period; give the rest back."""
        tasks = list(self.in_flight.values())
        if not tasks:
            return
        log.info("worker_draining", in_flight=len(tasks), grace_s=self.config.grace_seconds)
        _, pending = await asyncio.wait(tasks, timeout=self.config.grace_seconds)
        unfinished = [mid for mid, t in self.in_flight.items() if t in pending]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for msg_id in unfinished:
            try:
                released = await self.store.release(msg_id, self.worker_id)
            except StoreUnavailable:
                released = False  # the lease expires and the message comes back anyway
            log.info("message_given_back", msg_id=msg_id, released=released)

    # -- background -------------------------------------------------------------

    async def _listen(self) -> None:
        delay = 0.5

        def listening() -> None:
            nonlocal delay
            self.listening, delay = True, 0.5
            self._listened.set()

        while True:
            try:
                await self.store.listen_inbound(self.wake, listening)
            except StoreUnavailable as exc:
                if self.listening:
                    log.warning("listen_connection_lost", error=str(exc))
            finally:
                self.listening = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _worker_heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_seconds)
            try:
                if not await self.store.worker_heartbeat(self.worker_id):
                    await self.store.register_worker(
                        self.worker_id, socket.gethostname(), os.getpid(), {}
                    )
            except StoreUnavailable:
                pass
