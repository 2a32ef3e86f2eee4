"""The one seam between the worker and PostgreSQL.

Every method runs one named statement of wapipe.queries through wapipe.db.call, on
a pooled autocommit connection (each stored function is its own transaction;
complete_message does reply + memory + workflow + archive atomically inside the
database). The seam's one SQLSTATE table (wapipe.errors) turns database errors into
ClaimLost (WA001), WorkflowConflict, Refused and DatabaseUnavailable (StoreUnavailable).

A message's context (rate limit, workflow, agent, memory) comes with its claim
(claim_messages: one round trip for the batch). The calls each message makes on
its own, complete() and (without a claimed context) context(), are coalesced
("group commit"): each message's task asks for its own result, and whatever
requests are waiting go to the database as ONE call of the set-based function
(complete_messages, message_contexts) while the previous call is in flight. Under
light load a batch holds one request and waits for nothing; under load one round
trip and one commit serve many messages. Each request still gets its own answer
or its own error; a batch call that fails as a whole (a deadlock, an argument the
set-based function refuses) is retried request by request with the single-message
function, so one bad request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from wapipe import db, queries
from wapipe.db import first_line
from wapipe.errors import Refused
from wapipe.group_commit import GroupCommit
from wapipe.log import get_logger
from worker.errors import ClaimLost, MessageProcessingError, StoreUnavailable

log = get_logger("worker.store")

# Most requests one coalesced call carries (a worker has at most `concurrency`
# messages in flight, so this only bounds a pathological configuration).
MAX_BATCH = 256

RequestT = TypeVar("RequestT")
ResultT = TypeVar("ResultT")


@dataclass(frozen=True)
class ClaimedMessage:
    msg_id: int
    message_id: int
    wamid: str
    conversation_key: str
    phone_number_id: str
    user: str  # the user key: BSUID, phone (a user known before 2026) or group:<id>
    message_type: str
    priority: int
    attempt: int
    payload: dict[str, Any]
    contact: dict[str, Any] | None
    correlation_id: str
    locked_until: dt.datetime
    # what message_contexts answered for it when the claim asked (claim_messages)
    context: MessageContext | None = None
    # The texts queued behind it that its agent turn answers too, in order (a burst,
    # wapipe._claim_turns); () when it opened a turn with nothing behind it yet; None
    # when it opens no turn (not a text for a coalescing agent, or claimed without
    # contexts). Completing this message completes them.
    burst: tuple[TurnMessage, ...] | None = None

    @property
    def turn_size(self) -> int:
        """How many messages its turn answers."""
        return 1 + len(self.burst or ())


@dataclass(frozen=True)
class TurnMessage:
    """A queued text answered in its head's turn (one of a burst)."""

    msg_id: int
    message_id: int
    wamid: str
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        body = self.payload.get("text")
        return str(body.get("body", "")) if isinstance(body, dict) else ""


def turn_messages(burst: Any) -> tuple[TurnMessage, ...] | None:
    """A claim's or extend_turn's burst column as TurnMessages (None stays None)."""
    if burst is None:
        return None
    return tuple(
        TurnMessage(int(b["msg_id"]), int(b["message_id"]), str(b["wamid"]), dict(b["payload"]))
        for b in burst
    )


@dataclass(frozen=True)
class Completion:
    message_id: int
    outbox_ids: list[int]
    processing_ms: int


@dataclass(frozen=True)
class Memory:
    id: int
    session_id: str
    messages: list[dict[str, Any]]
    context: dict[str, Any]


@dataclass(frozen=True)
class WorkflowState:
    id: int
    workflow_type: str
    current_step: str
    data: dict[str, Any]
    version: int
    # when the conversation's 24-hour window closes (a step's reply after it needs a
    # template: the sender holds free-form back); None when unknown or never opened
    window_closes_at: dt.datetime | None = None


@dataclass(frozen=True)
class MessageContext:
    """What message_context found: a refusal, an active workflow, or an agent and its memory.

    breaker_state: the agent's breaker as stored ("closed", "open", "half_open") when
    message_contexts read it, else None. Only "closed" lets the caller skip
    breaker_allow (closed is a plain read there too); anything else must go through
    breaker_allow, which owns the open -> half-open transition and the trial slots.
    """

    allowed: bool
    retry_after_ms: int
    workflow: WorkflowState | None
    agent: str | None
    memory: Memory | None
    breaker_state: str | None = None
    # the conversation's handoff in force ({"id", "since", "until", "by", "reason"}): the
    # handler calls no agent and sends nothing; None when the bot answers (issue 17)
    handed_off: dict[str, Any] | None = None
    # when the conversation's 24-hour customer-service window closes (None: never opened)
    window_closes_at: dt.datetime | None = None


@dataclass(frozen=True)
class _ContextRequest:
    user: str
    preferred_agent: str | None
    rate_key: str | None
    conversation_key: str | None = None


@dataclass(frozen=True)
class _CompleteRequest:
    msg_id: int
    reply: Any
    memory: dict[str, Any] | None
    handled_by: str | None


@dataclass(frozen=True)
class ClaimRouting:
    """What claim_messages needs to answer each claimed message's context (one configuration)."""

    default_agent: str
    known_agents: tuple[str, ...]
    rules: tuple[tuple[tuple[str, ...], str], ...]  # (keywords, agent), first match wins
    rate_max: int | None
    rate_per: str | None
    # {agent: seconds}: the agents whose turns take the texts queued behind a text head
    coalesce_seconds: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class RateLimit:
    allowed: bool
    remaining: int
    retry_after_ms: int


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(value)


class Coalescer(GroupCommit[RequestT, ResultT]):
    """The worker's group commit (wapipe.group_commit): one call at a time, a call
    leaves on the next turn of the event loop with every request waiting then;
    closing the store fails what is left with StoreUnavailable."""

    def __init__(
        self,
        run: Callable[[list[RequestT]], Awaitable[Sequence[ResultT | BaseException]]],
        max_batch: int = MAX_BATCH,
    ) -> None:
        super().__init__(
            run,
            max_batch=max_batch,
            max_calls=1,
            closed_error=lambda: StoreUnavailable("the worker's store was closed"),
        )


def _claim_routing(routing: ClaimRouting) -> dict[str, Any]:
    """claim_messages' arguments for the contexts (Store.claim)."""
    return {
        "default_agent": routing.default_agent,
        "known_agents": list(routing.known_agents),
        "rules": Jsonb([{"keywords": list(k), "agent": a} for k, a in routing.rules]),
        "rate_max": routing.rate_max,
        "rate_per": routing.rate_per,
        "coalesce_seconds": Jsonb(dict(routing.coalesce_seconds)),
    }


def _routed_args(routing: ClaimRouting, message_ids: list[int]) -> dict[str, Any]:
    return {
        "message_ids": message_ids,
        "rules": Jsonb([{"keywords": list(k), "agent": a} for k, a in routing.rules]),
        "default_agent": routing.default_agent,
        "known_agents": list(routing.known_agents),
        "rate_max": routing.rate_max,
        "rate_per": routing.rate_per,
    }


def _context_of(
    row: Sequence[Any],
    breaker_state: str | None,
    handed_off: Any = None,
    window_closes_at: dt.datetime | None = None,
) -> MessageContext:
    """A MessageContext from message_context's twelve columns (+ handoff and window)."""
    workflow = (
        WorkflowState(
            int(row[2]),
            str(row[3]),
            str(row[4]),
            dict(row[5] or {}),
            int(row[6]),
            window_closes_at,
        )
        if row[2] is not None
        else None
    )
    memory = (
        Memory(int(row[8]), str(row[9]), list(row[10] or []), dict(row[11] or {}))
        if row[8] is not None
        else None
    )
    agent = str(row[7]) if row[7] is not None else None
    return MessageContext(
        bool(row[0]),
        int(row[1] or 0),
        workflow,
        agent,
        memory,
        breaker_state,
        dict(handed_off) if handed_off else None,
        window_closes_at,
    )


def _contexts_row(row: Sequence[Any]) -> MessageContext:
    """A MessageContext from a message_contexts row (ord, message_context's twelve
    columns, breaker_state, handed_off, window_closes_at)."""
    return _context_of(row[1:13], row[13], row[14], row[15])


def _claimed_with_context(row: Sequence[Any]) -> ClaimedMessage:
    """A ClaimedMessage with its context from a claim_messages row (13 + 13 columns, burst)."""
    # (mypy cannot see that the slice holds exactly the 13 claim columns)
    return ClaimedMessage(  # type: ignore[call-arg]
        *row[:13], _context_of(row[13:25], row[25], row[27], row[28]), turn_messages(row[26])
    )


class Store:
    def __init__(
        self,
        url: str,
        *,
        min_size: int = 2,
        max_size: int = 10,
        name: str = "worker",
        configure: Callable[[psycopg.AsyncConnection[Any]], Awaitable[None]] | None = None,
    ):
        self.url = url
        # configure: each new connection's warm-up (the worker's: a rehearsed claim)
        self.pool: AsyncConnectionPool[Any] = db.new_pool(
            url, name, min_size=min_size, max_size=max_size, timeout=10, configure=configure
        )
        # one coalescer per shared argument set (a worker has one configuration)
        self._contexts: dict[Hashable, Coalescer[_ContextRequest, MessageContext]] = {}
        self._routed: dict[ClaimRouting, Coalescer[int, MessageContext]] = {}
        self._completions: dict[str, Coalescer[_CompleteRequest, Completion]] = {}

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        for contexts in self._contexts.values():
            await contexts.close()
        for routed in self._routed.values():
            await routed.close()
        for completions in self._completions.values():
            await completions.close()
        await self.pool.close(timeout=5)

    async def _rows(self, sql: LiteralString, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """One statement through the seam (wapipe.db.call: retry, SQLSTATE table)."""
        return await db.call(self.pool, sql, params)

    async def _one(self, sql: LiteralString, params: dict[str, Any]) -> tuple[Any, ...] | None:
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def _scalar(self, sql: LiteralString, params: dict[str, Any]) -> Any:
        row = await self._one(sql, params)
        return row[0] if row else None

    # -- the queue -------------------------------------------------------------

    async def claim(
        self, worker_id: str, lock_seconds: int, batch: int, routing: ClaimRouting | None = None
    ) -> list[ClaimedMessage]:
        """Claim up to `batch` messages; with `routing`, each with its context (one round trip).

        A context call the database refuses as a whole (an argument error) would refuse
        every claim: then the messages are claimed without contexts, and each asks for
        its own (Store.context), so a bad one fails alone.
        """
        args: dict[str, Any] = {
            "worker_id": worker_id,
            "lock_seconds": lock_seconds,
            "batch": batch,
        }
        if routing is not None:
            try:
                rows = await self._rows(queries.CLAIM_MESSAGES, args | _claim_routing(routing))
            except Refused as exc:
                log.warning("claim_contexts_refused", error=str(exc))
            else:
                return [_claimed_with_context(row) for row in rows]
        rows = await self._rows(queries.GET_NEXT_QUEUE_MESSAGE, args)
        return [ClaimedMessage(*row) for row in rows]

    async def warm_connection(
        self,
        conn: psycopg.AsyncConnection[Any],
        worker_id: str,
        lock_seconds: int,
        routing: ClaimRouting,
    ) -> str | None:
        """The claim of one message on a new connection, rolled back (wapipe.db.rehearse):
        the first real claims find claim_messages compiled and planned. Nothing is kept; a
        queued message is locked for the moment of the rehearsal only (others skip it).
        None, or why it was refused."""
        args = {"worker_id": worker_id, "lock_seconds": lock_seconds, "batch": 1}
        return await db.rehearse(conn, [(queries.CLAIM_MESSAGES, args | _claim_routing(routing))])

    async def extend_turn(
        self, msg_id: int, worker_id: str, coalesce_seconds: float
    ) -> tuple[tuple[TurnMessage, ...], float]:
        """extend_turn: the held head's burst gathered again, and how long it has been quiet."""
        row = await self._one(
            queries.EXTEND_TURN,
            {"msg_id": msg_id, "worker_id": worker_id, "coalesce_seconds": coalesce_seconds},
        )
        assert row is not None  # extend_turn returns one row or raises
        return turn_messages(row[0]) or (), float(row[1] or 0.0)

    async def extend_lock(self, msg_id: int, worker_id: str, lock_seconds: int) -> bool:
        return bool(
            await self._scalar(
                queries.ACQUIRE_MESSAGE_LOCK,
                {"msg_id": msg_id, "worker_id": worker_id, "lock_seconds": lock_seconds},
            )
        )

    async def release(self, msg_id: int, worker_id: str) -> bool:
        return bool(
            await self._scalar(
                queries.RELEASE_MESSAGE_LOCK, {"msg_id": msg_id, "worker_id": worker_id}
            )
        )

    async def schedule_retry(
        self, msg_id: int, worker_id: str, error: str, retryable: bool
    ) -> dt.datetime | None:
        result: dt.datetime | None = await self._scalar(
            queries.SCHEDULE_MESSAGE_RETRY,
            {"msg_id": msg_id, "worker_id": worker_id, "error": error, "retryable": retryable},
        )
        return result

    async def defer(
        self,
        msg_id: int,
        worker_id: str,
        service: str,
        until: dt.datetime | None,
        reason: str,
        max_wait_seconds: int | None,
    ) -> dt.datetime | None:
        """defer_message: when it may be claimed again; None: dead-lettered (waited too long)."""
        result: dt.datetime | None = await self._scalar(
            queries.DEFER_MESSAGE,
            {
                "msg_id": msg_id,
                "worker_id": worker_id,
                "service": service,
                "until": until,
                "reason": reason,
                "max_wait_seconds": max_wait_seconds,
            },
        )
        return result

    async def complete(
        self,
        msg_id: int,
        worker_id: str,
        *,
        reply: Any = None,
        memory: dict[str, Any] | None = None,
        workflow: dict[str, Any] | None = None,
        handled_by: str | None = None,
    ) -> Completion:
        """complete_message: coalesced with other completions unless it moves a workflow.

        A workflow action can fail on its own (step moved, one already active) and
        would fail the whole batch, so those few go alone.
        """
        if workflow is not None:
            return await self.complete_one(
                msg_id,
                worker_id,
                reply=reply,
                memory=memory,
                workflow=workflow,
                handled_by=handled_by,
            )
        coalescer = self._completions.get(worker_id)
        if coalescer is None:

            async def run(batch: list[_CompleteRequest]) -> list[Completion | BaseException]:
                return await self._complete_batch(worker_id, batch)

            coalescer = self._completions[worker_id] = Coalescer(run)
        return await coalescer.submit(_CompleteRequest(msg_id, reply, memory, handled_by))

    async def complete_one(
        self,
        msg_id: int,
        worker_id: str,
        *,
        reply: Any = None,
        memory: dict[str, Any] | None = None,
        workflow: dict[str, Any] | None = None,
        handled_by: str | None = None,
    ) -> Completion:
        """complete_message for one message, on its own."""
        row = await self._one(
            queries.COMPLETE_MESSAGE,
            {
                "msg_id": msg_id,
                "worker_id": worker_id,
                "reply": _json(reply),
                "memory": _json(memory),
                "workflow": _json(workflow),
                "handled_by": handled_by,
            },
        )
        assert row is not None  # complete_message returns one row or raises
        return Completion(int(row[0]), list(row[1] or []), int(row[2] or 0))

    async def _batch_rows(
        self, call: str, sql: LiteralString, params: dict[str, Any], size: int
    ) -> list[tuple[Any, ...]] | None:
        """Rows of one set-based call; None when it failed for another reason than the
        store being unreachable (then each message of the batch goes on its own)."""
        try:
            return await self._rows(sql, params)
        except StoreUnavailable:
            raise
        except Exception as exc:
            log.warning("batch_call_failed", call=call, size=size, error=first_line(str(exc)))
            return None

    async def _complete_batch(
        self, worker_id: str, batch: list[_CompleteRequest]
    ) -> list[Completion | BaseException]:
        items = [
            {"msg_id": r.msg_id, "reply": r.reply, "memory": r.memory, "handled_by": r.handled_by}
            for r in batch
        ]
        try:
            rows = await self._batch_rows(
                "complete_messages",
                queries.COMPLETE_MESSAGES,
                {"worker_id": worker_id, "items": Jsonb(items)},
                len(batch),
            )
        except StoreUnavailable as exc:
            return [StoreUnavailable(str(exc)) for _ in batch]
        if rows is None:
            return await asyncio.gather(
                *(
                    self.complete_one(
                        r.msg_id, worker_id, reply=r.reply, memory=r.memory, handled_by=r.handled_by
                    )
                    for r in batch
                ),
                return_exceptions=True,
            )
        results: list[Completion | BaseException] = []
        for _ord, _msg_id, outcome, message_id, outbox_ids, processing_ms, _code, error in rows:
            if outcome == "done":
                results.append(
                    Completion(int(message_id), list(outbox_ids or []), int(processing_ms or 0))
                )
            elif outcome == "claim_lost":
                results.append(ClaimLost(str(error)))
            else:  # rejected: what complete_message raises as 22023
                results.append(
                    MessageProcessingError(str(error), code="rejected_by_db", retryable=False)
                )
        return results

    # -- routing state ---------------------------------------------------------

    async def context(
        self,
        user: str,
        *,
        default_agent: str,
        known_agents: list[str],
        preferred_agent: str | None,
        rate: tuple[str, int, str] | None,
        conversation_key: str | None = None,
    ) -> MessageContext:
        """message_context, coalesced with the other messages' (message_contexts)."""
        rate_key, rate_max, rate_per = rate if rate else (None, None, None)
        shared = (default_agent, tuple(known_agents), rate_max, rate_per)
        coalescer = self._contexts.get(shared)
        if coalescer is None:

            async def run(batch: list[_ContextRequest]) -> list[MessageContext | BaseException]:
                return await self._context_batch(shared, batch)

            coalescer = self._contexts[shared] = Coalescer(run)
        return await coalescer.submit(
            _ContextRequest(user, preferred_agent, rate_key, conversation_key)
        )

    async def _context_batch(
        self,
        shared: tuple[str, tuple[str, ...], int | None, str | None],
        batch: list[_ContextRequest],
    ) -> list[MessageContext | BaseException]:
        default_agent, known_agents, rate_max, rate_per = shared
        items = [
            {
                "user_phone": r.user,
                "preferred_agent": r.preferred_agent,
                "rate_key": r.rate_key,
                "conversation_key": r.conversation_key,
            }
            for r in batch
        ]
        try:
            rows = await self._batch_rows(
                "message_contexts",
                queries.MESSAGE_CONTEXTS,
                {
                    "items": Jsonb(items),
                    "default_agent": default_agent,
                    "known_agents": list(known_agents),
                    "rate_max": rate_max,
                    "rate_per": rate_per,
                },
                len(batch),
            )
        except StoreUnavailable as exc:
            return [StoreUnavailable(str(exc)) for _ in batch]
        if rows is None:
            return await asyncio.gather(
                *(
                    self.context_one(
                        r.user,
                        default_agent=default_agent,
                        known_agents=list(known_agents),
                        preferred_agent=r.preferred_agent,
                        rate=(r.rate_key, rate_max, rate_per)
                        if r.rate_key is not None and rate_max is not None and rate_per is not None
                        else None,
                        conversation_key=r.conversation_key,
                    )
                    for r in batch
                ),
                return_exceptions=True,
            )
        return [_contexts_row(row) for row in rows]

    async def routed_context(self, message_id: int, routing: ClaimRouting) -> MessageContext:
        """The context of a message whose claim came without it (Store.claim's fallback).

        The database routes it by the rule claim_messages applies (wapipe.context_items:
        keyword agent, rate key): the worker does not route twice. Coalesced with the
        other messages' calls; a call refused as a whole goes again message by message."""
        coalescer = self._routed.get(routing)
        if coalescer is None:

            async def run(ids: list[int]) -> list[MessageContext | BaseException]:
                return await self._routed_batch(routing, ids)

            coalescer = self._routed[routing] = Coalescer(run)
        return await coalescer.submit(message_id)

    async def _routed_batch(
        self, routing: ClaimRouting, ids: list[int]
    ) -> list[MessageContext | BaseException]:
        try:
            rows = await self._batch_rows(
                "message_contexts",
                queries.MESSAGE_CONTEXTS__ROUTED,
                _routed_args(routing, ids),
                len(ids),
            )
        except StoreUnavailable as exc:
            return [StoreUnavailable(str(exc)) for _ in ids]
        if rows is None:
            return await asyncio.gather(
                *(self._routed_one(routing, i) for i in ids), return_exceptions=True
            )
        if len(rows) != len(ids):  # a message no longer stored: nothing to route it by
            wrong = MessageProcessingError(f"{len(rows)} contexts for {len(ids)} messages")
            return [wrong] * len(ids)
        return [_contexts_row(row) for row in rows]

    async def _routed_one(self, routing: ClaimRouting, message_id: int) -> MessageContext:
        rows = await self._rows(
            queries.MESSAGE_CONTEXTS__ROUTED, _routed_args(routing, [message_id])
        )
        if len(rows) != 1:
            raise MessageProcessingError(f"no context for message {message_id}")
        row = rows[0]
        return _contexts_row(row)

    async def context_beside_workflow(
        self, message_id: int, routing: ClaimRouting
    ) -> MessageContext:
        """The agent and memory of a message the user's active workflow did not take.

        The database routes it as it would without the workflow (context_items with
        bypass_workflow: keyword agent, else the sticky agent when known, else the
        default; no second rate token): the worker does not route twice."""
        args = _routed_args(routing, [message_id])
        del args["rate_max"], args["rate_per"]
        rows = await self._rows(queries.MESSAGE_CONTEXTS__BYPASS_WORKFLOW, args)
        if len(rows) != 1 or rows[0][8] is None:
            raise MessageProcessingError(f"no agent for message {message_id}")
        row = rows[0]
        return _contexts_row(row)

    async def handoff_keyword(self, text: str, keywords: Sequence[str]) -> str | None:
        """The first handoff keyword among the words of `text`, by the routing matcher
        (wapipe.keyword_agent: whole words, lowercased), or None."""
        result: str | None = await self._scalar(
            queries.KEYWORD_AGENT,
            {"body": text, "rules": Jsonb([{"keywords": [k], "agent": k} for k in keywords])},
        )
        return result

    async def context_one(
        self,
        user: str,
        *,
        default_agent: str,
        known_agents: list[str],
        preferred_agent: str | None,
        rate: tuple[str, int, str] | None,
        conversation_key: str | None = None,
    ) -> MessageContext:
        """message_context for one message, on its own."""
        rate_key, rate_max, rate_per = rate if rate else (None, None, None)
        row = await self._one(
            queries.MESSAGE_CONTEXT,
            {
                "user_phone": user,
                "default_agent": default_agent,
                "known_agents": known_agents,
                "preferred_agent": preferred_agent,
                "rate_key": rate_key,
                "rate_max": rate_max,
                "rate_per": rate_per,
                "conversation_key": conversation_key,
            },
        )
        assert row is not None
        return _context_of(row, None, row[12], row[13])

    async def start_handoff(
        self, conversation_key: str, started_by: str, reason: str | None, minutes: int | None
    ) -> dt.datetime | None:
        """Hand the conversation to a human (or extend its handoff); returns until when."""
        row = await self._one(
            queries.START_HANDOFF,
            {
                "conversation_key": conversation_key,
                "started_by": started_by,
                "reason": reason,
                "minutes": minutes,
            },
        )
        until: dt.datetime | None = row[1] if row else None
        return until

    async def memory(self, user: str, agent_type: str) -> Memory:
        row = await self._one(
            queries.GET_OR_CREATE_CONVERSATION_MEMORY,
            {"user_phone": user, "agent_type": agent_type},
        )
        assert row is not None
        return Memory(int(row[0]), str(row[1]), list(row[2] or []), dict(row[3] or {}))

    async def active_workflow(self, user: str) -> WorkflowState | None:
        row = await self._one(queries.GET_ACTIVE_WORKFLOW, {"user_phone": user})
        if row is None:
            return None
        return WorkflowState(int(row[0]), str(row[1]), str(row[2]), dict(row[3] or {}), int(row[4]))

    async def rate_limit(self, key: str, max_per_window: int, per: str) -> RateLimit:
        row = await self._one(
            queries.CHECK_RATE_LIMIT, {"key": key, "max_per_window": max_per_window, "per": per}
        )
        assert row is not None
        return RateLimit(bool(row[0]), int(row[1]), int(row[2]))

    # -- breakers, health, worker registry ------------------------------------

    async def breaker_configure(self, name: str, kind: str, **policy: float | int | None) -> None:
        params: dict[str, Any] = {
            "name": name,
            "kind": kind,
            "failure_rate": None,
            "open_seconds": None,
            "window_seconds": None,
            "min_calls": None,
            "half_open_calls": None,
        }
        params.update(policy)
        await self._rows(queries.BREAKER_CONFIGURE, params)

    async def breaker_allow(self, name: str) -> str:
        return str(await self._scalar(queries.BREAKER_ALLOW, {"name": name}))

    async def breaker_record(
        self, name: str, ok: bool, duration_ms: int, endpoint: str | None, error: str | None
    ) -> str:
        return str(
            await self._scalar(
                queries.BREAKER_RECORD,
                {
                    "name": name,
                    "ok": ok,
                    "duration_ms": max(0, duration_ms),
                    "endpoint": endpoint,
                    "error": error,
                },
            )
        )

    async def breaker_record_successes(
        self, name: str, endpoint: str, durations_ms: list[int]
    ) -> None:
        await self._rows(
            queries.BREAKER_RECORD_SUCCESSES,
            {"name": name, "endpoint": endpoint, "durations_ms": [max(0, d) for d in durations_ms]},
        )

    async def record_endpoint_health(
        self, service: str, endpoint: str, healthy: bool, error: str | None, checked_by: str
    ) -> None:
        await self._rows(
            queries.RECORD_ENDPOINT_HEALTH,
            {
                "service": service,
                "endpoint": endpoint,
                "healthy": healthy,
                "error": error,
                "checked_by": checked_by,
            },
        )

    async def register_worker(
        self, worker_id: str, host: str, pid: int, info: dict[str, Any]
    ) -> None:
        await self._rows(
            queries.REGISTER_WORKER,
            {"worker_id": worker_id, "host": host, "pid": pid, "info": Jsonb(info)},
        )

    async def worker_heartbeat(self, worker_id: str) -> bool:
        return bool(await self._scalar(queries.WORKER_HEARTBEAT, {"worker_id": worker_id}))

    async def worker_stopped(self, worker_id: str) -> None:
        await self._rows(queries.WORKER_STOPPED, {"worker_id": worker_id})

    # -- wake-ups --------------------------------------------------------------

    async def listen_inbound(
        self, wake: asyncio.Event, on_listening: Callable[[], None] | None = None
    ) -> None:
        """Set `wake` on every insert notification until the connection drops (raises)."""
        conn = await db.connect_async(self.url, "worker-listen")
        async with conn:
            try:
                await conn.execute(queries.LISTEN_INBOUND)
                if on_listening is not None:
                    on_listening()
                wake.set()  # anything inserted while we were not listening
                async for _ in conn.notifies():
                    wake.set()
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(first_line(str(exc))) from exc
