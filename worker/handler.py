"""Handling one claimed message: rate limit, route, call, complete — one error boundary.

1. Rate limit per user (first attempt only: a retry was already admitted).
2. Route: the user's active workflow takes the message when its step accepts it;
   otherwise the agent of a keyword rule, else the agent the user is talking to
   (sticky memory session), else the default agent. The database decides all of it
   (claim_messages, message_contexts; a handoff keyword by wapipe.keyword_agent):
   the handler asks, it holds no routing rule of its own.
3. Call the agent with its memory, under its breaker and timeout class.
4. complete_message: reply + memory append + workflow action, one transaction.
5. Failures: typed errors decide retry vs dead letter; anything unexpected is
   retryable. Each failure is logged once (correlation id, masked user, no body).
   A call that never reached its service (breaker open, no healthy endpoint) is no
   failure: the service's fallback answers (`reply`) or the message waits for the
   service without spending an attempt (`retry`: wapipe.defer_message).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from wapipe.errors import DatabaseRefusal
from wapipe.log import bind_correlation_id, get_logger
from worker.agents import AgentReply, AgentRequest, call_agent, summary_of, text_message
from worker.config import WorkerConfig
from worker.errors import ClaimLost, ProcessingError, ServiceUnavailable, StoreUnavailable
from worker.media import MediaFetcher, MediaUnavailable
from worker.metrics import WorkerMetrics
from worker.registry import ServiceRegistry
from worker.store import ClaimedMessage, ClaimRouting, MessageContext, Store
from worker.typing_indicator import TypingIndicator
from worker.workflows import Input, WorkflowEngine

log = get_logger("worker.handler")
_INFO = logging.getLogger("worker.handler")  # the level structlog filters this logger's lines at


def identity_of(msg: ClaimedMessage) -> dict[str, Any]:
    """What the agent is told of the user: every identifier wapipe knows (the ingest
    wrote them into the contact); for a message stored before 2026, its phone."""
    known = (msg.contact or {}).get("identity")
    if isinstance(known, dict) and known.get("user"):
        return known
    return {"user": msg.user, "phone": msg.user}


class MessageHandler:
    def __init__(
        self,
        config: WorkerConfig,
        store: Store,
        registry: ServiceRegistry,
        workflows: WorkflowEngine,
        worker_id: str,
        metrics: WorkerMetrics | None = None,
        typing: TypingIndicator | None = None,
        media: MediaFetcher | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.registry = registry
        self.workflows = workflows
        self.worker_id = worker_id
        self.metrics = metrics or WorkerMetrics()
        # read receipt + typing while an agent or workflow works on a message it will
        # answer; the media the agent can see (issue 16): both off when None
        self.typing = typing or TypingIndicator(None, None, config.typing)
        self.media = media
        self._known_agents = sorted(registry.services)
        # what the claim needs to answer each message's context (Store.claim)
        self.routing = ClaimRouting(
            default_agent=config.default_agent,
            known_agents=tuple(self._known_agents),
            rules=tuple((tuple(rule.keywords), rule.agent) for rule in config.rules),
            rate_max=config.rate_limit_max,
            rate_per=config.rate_limit_per,
            coalesce_seconds=tuple(
                (s.name, s.coalesce_seconds) for s in config.services if s.coalesce_seconds > 0
            ),
        )

    async def handle(
        self, msg: ClaimedMessage, handed_over: Callable[[], None] = lambda: None
    ) -> None:
        """Process one message to completion, retry or dead letter. Never raises (but cancel).

        `handed_over` is called once the message's outcome is decided and only its
        recording in the database remains (complete, retry): the worker then counts
        the message as no longer handled, and claims the next ones while the
        recording commits. It may be called again (a refused completion is then
        recorded as a failure); the first call counts.
        """
        started = time.perf_counter()
        self.metrics.handling += 1
        try:
            outcome = await self._handle(msg, handed_over)
        finally:
            self.metrics.handling -= 1
        if outcome in ("done", "retry", "dead", "deferred"):
            self.metrics.message_finished(outcome, time.perf_counter() - started)
        else:
            self.metrics.unfinished.labels(outcome).inc()

    async def _handle(self, msg: ClaimedMessage, handed_over: Callable[[], None]) -> str:
        """handle(): returns done, retry, deferred, dead, claim_lost or store_unavailable."""
        bind_correlation_id(msg.correlation_id or msg.wamid)
        try:
            handled_by = await self._process(msg, handed_over)
        except ClaimLost:
            log.warning("claim_lost", msg_id=msg.msg_id, user=msg.user, attempt=msg.attempt)
            return "claim_lost"
        except MediaUnavailable as exc:  # the media breaker is open: wait, no attempt spent
            handed_over()
            return await self._defer(msg, exc, exc.breaker, None)
        except ServiceUnavailable as exc:
            handed_over()
            return await self._fallback(msg, exc)
        except (ProcessingError, DatabaseRefusal) as exc:  # ours, or the database's refusal
            handed_over()
            return await self._fail(msg, exc.stored_text(), exc.retryable, exc.code)
        except StoreUnavailable as exc:
            # cannot even record the failure: the lease expires and the message comes back
            log.error("store_unavailable", msg_id=msg.msg_id, user=msg.user, error=str(exc))
            return "store_unavailable"
        except Exception as exc:  # the boundary: an unexpected error is worth another try
            log.exception("unexpected_error", msg_id=msg.msg_id, user=msg.user)
            handed_over()
            return await self._fail(
                msg, f"{type(exc).__name__}: {exc}", True, type(exc).__name__, logged=True
            )
        if _INFO.isEnabledFor(logging.INFO):  # one line per message: built only when kept
            log.info(
                "message_handled",
                msg_id=msg.msg_id,
                user=msg.user,
                attempt=msg.attempt,
                handled_by=handled_by,
            )
        return "done"

    async def _fail(
        self, msg: ClaimedMessage, error: str, retryable: bool, code: str, logged: bool = False
    ) -> str:
        try:
            next_at = await self.store.schedule_retry(msg.msg_id, self.worker_id, error, retryable)
        except ClaimLost:
            log.warning("claim_lost", msg_id=msg.msg_id, user=msg.user, error_code=code)
            return "claim_lost"
        except StoreUnavailable:
            log.error(
                "message_failed_unrecorded",
                msg_id=msg.msg_id,
                user=msg.user,
                error_code=code,
                attempt=msg.attempt,
            )
            return "store_unavailable"
        if not logged or next_at is None:
            event = "message_retry_scheduled" if next_at else "message_dead_lettered"
            log.warning(
                event,
                msg_id=msg.msg_id,
                user=msg.user,
                attempt=msg.attempt,
                error_code=code,
                retryable=retryable,
                next_attempt_at=next_at.isoformat() if next_at else None,
            )
        return "retry" if next_at is not None else "dead"

    async def _fallback(self, msg: ClaimedMessage, exc: ServiceUnavailable) -> str:
        service = self.registry.service(str(exc.context.get("service", self.config.default_agent)))
        if service.config.fallback == "reply":
            # The holding reply is the message's one answer: completed, not retried;
            # the user's words stay in the agent's memory so the agent sees them next time.
            memory = await self.store.memory(msg.user, service.name)
            text = Input.of(msg.message_type, msg.payload).as_text() or f"[{msg.message_type}]"
            reply = [text_message(service.config.fallback_text)]
            try:
                await self.store.complete(
                    msg.msg_id,
                    self.worker_id,
                    reply=reply,
                    memory={
                        "memory_id": memory.id,
                        "append": [
                            {"role": "user", "content": text},
                            {"role": "assistant", "content": service.config.fallback_text},
                        ],
                    },
                    handled_by=f"fallback:{service.name}",
                )
            except ClaimLost:
                return "claim_lost"
            log.warning(
                "service_fallback_reply",
                msg_id=msg.msg_id,
                user=msg.user,
                service=service.name,
                error_code=exc.code,
            )
            return "done"
        return await self._defer(msg, exc, service.name, service.config.max_wait_seconds)

    async def _defer(
        self, msg: ClaimedMessage, exc: ServiceUnavailable, service: str, max_wait: int | None
    ) -> str:
        """The service was not called: wait for it without spending an attempt."""
        available_at = exc.context.get("available_at")
        try:
            until = await self.store.defer(
                msg.msg_id,
                self.worker_id,
                service,
                available_at if isinstance(available_at, dt.datetime) else None,
                exc.stored_text(),
                max_wait,
            )
        except ClaimLost:
            log.warning("claim_lost", msg_id=msg.msg_id, user=msg.user, error_code=exc.code)
            return "claim_lost"
        except StoreUnavailable:
            log.error(
                "message_deferral_unrecorded",
                msg_id=msg.msg_id,
                user=msg.user,
                error_code=exc.code,
            )
            return "store_unavailable"
        if until is None:
            log.warning(
                "message_dead_lettered",
                msg_id=msg.msg_id,
                user=msg.user,
                attempt=msg.attempt,
                error_code="service_unavailable_too_long",
                service=service,
            )
            return "dead"
        log.info(
            "message_deferred",
            msg_id=msg.msg_id,
            user=msg.user,
            service=service,
            error_code=exc.code,
            until=until.isoformat(),
        )
        return "deferred"

    async def _process(self, msg: ClaimedMessage, handed_over: Callable[[], None]) -> str:
        user = msg.user
        if msg.message_type == "revoked":
            # the user deleted it before it was handled: answered with nothing
            handed_over()
            await self.store.complete(msg.msg_id, self.worker_id, reply=None, handled_by="revoked")
            return "revoked"
        given = Input.of(msg.message_type, msg.payload)
        # Rate limit (first attempt only: a retry was already let in), the active
        # workflow, else the agent to use and its memory: answered with the claim
        # (claim_messages), else asked for now in one round trip, routed by the same
        # rule in the database (the keyword agent and rate key are not decided here).
        context = msg.context or await self.store.routed_context(msg.message_id, self.routing)
        if context.handed_off is not None:
            # a human has the conversation: kept, never answered (no agent, no typing)
            handed_over()
            await self._keep_for_human(msg, context, given)
            return "handoff"
        if not context.allowed:
            handed_over()
            await self._refuse(msg, context.retry_after_ms)
            return "rate_limited"

        handoff_keywords = self.config.handoff.keywords
        word = (
            await self.store.handoff_keyword(given.value, handoff_keywords)
            if given.kind == "text" and handoff_keywords
            else None
        )
        if word is not None:
            handed_over()
            await self._hand_off_by_rule(msg, context, given, word)
            return "handoff:rule"

        state = context.workflow
        if state is not None and self.workflows.accepts(state, given):
            self.typing.turn(msg).stop()  # read + typing once: the step answers at once
            step = self.workflows.handle(state, given)
            handed_over()
            await self.store.complete(
                msg.msg_id,
                self.worker_id,
                reply=step.reply,
                workflow=step.action,
                handled_by=f"workflow:{state.workflow_type}",
            )
            return f"workflow:{state.workflow_type}"

        breaker_closed = False
        if context.agent is not None and context.memory is not None:
            agent, memory = context.agent, context.memory
            breaker_closed = context.breaker_state == "closed"
        else:  # a workflow is active but this message is not for it: routed as without one
            routed = await self.store.context_beside_workflow(msg.message_id, self.routing)
            assert routed.agent is not None and routed.memory is not None  # (the store checks)
            agent, memory = routed.agent, routed.memory
            breaker_closed = routed.breaker_state == "closed"
        text = given.as_text() or f"[{msg.message_type}]"
        burst = msg.burst or ()  # texts queued behind it: one turn, one reply (a burst)
        if burst:
            text = "\n".join([text, *(b.text for b in burst)])
        service = self.registry.service(agent).config
        # The hook before the agent call: read + typing (refreshed until stop), then the
        # media the agent can see. Only messages that get an answer come this far.
        typing = self.typing.turn(msg, service)
        try:
            if typing.calling:  # its call leaves first, not after the batch's agents
                await asyncio.sleep(0)
            media = await self.media.prepare(msg, service) if self.media else None
        except BaseException:
            typing.stop()
            raise
        request = AgentRequest(
            agent=agent,
            user=user,
            message=msg.payload,
            text=text,
            history=memory.messages,
            context=memory.context,
            correlation_id=msg.correlation_id or msg.wamid,
            identity=identity_of(msg),
            messages=[msg.payload, *(b.payload for b in burst)],
            media=media.as_json() if media else None,
            media_content=media.content if media else None,
            window_closes_at=context.window_closes_at.isoformat()
            if context.window_closes_at
            else None,
        )
        try:
            answer = await self.registry.call(
                agent,
                lambda endpoint: call_agent(self.registry.client, service, endpoint, request),
                breaker_closed=breaker_closed,
            )
        except ProcessingError as exc:
            exc.context.setdefault("service", agent)
            raise
        finally:
            typing.stop()  # the agent answered (or failed): never shown after this
        replies, workflow = self._workflow_from_agent(answer, state)
        if answer.outside_window is not None and replies:
            # the sender sends it instead when the window has closed (README, the window)
            replies[0] = {**replies[0], "outside_window": answer.outside_window}
        memory_update: dict[str, Any] = {
            "memory_id": memory.id,
            "append": [
                {"role": "user", "content": text},
                {"role": "assistant", "content": summary_of(replies)},
            ],
        }
        if answer.context:
            memory_update["context"] = answer.context
        handed_over()
        await self.store.complete(
            msg.msg_id,
            self.worker_id,
            reply=replies or None,
            memory=memory_update,
            workflow=workflow,
            handled_by=agent,
        )
        if answer.handoff is not None:
            await self._start_handoff(
                msg, f"agent:{agent}", answer.handoff.get("reason"), answer.handoff.get("minutes")
            )
        return agent

    async def _keep_for_human(
        self, msg: ClaimedMessage, context: MessageContext, given: Input
    ) -> None:
        """Handed off: the user's words go to memory (the agent's next turn sees them), no reply."""
        memory = context.memory or await self.store.memory(
            msg.user, self.config.default_agent
        )
        text = "\n".join(
            [given.as_text() or f"[{msg.message_type}]", *(b.text for b in msg.burst or ())]
        )
        await self.store.complete(
            msg.msg_id,
            self.worker_id,
            reply=None,
            memory={"memory_id": memory.id, "append": [{"role": "user", "content": text}]},
            handled_by="handoff",
        )
        log.info(
            "message_kept_for_human",
            msg_id=msg.msg_id,
            user=msg.user,
            handoff_by=(context.handed_off or {}).get("by"),
        )

    async def _hand_off_by_rule(
        self, msg: ClaimedMessage, context: MessageContext, given: Input, word: str
    ) -> None:
        """A handoff keyword: the conversation goes to staff, the user is told once."""
        cfg = self.config.handoff
        await self._start_handoff(msg, f"rule:{word}", "the user asked for a person", cfg.minutes)
        memory = context.memory or await self.store.memory(
            msg.user, self.config.default_agent
        )
        append = [{"role": "user", "content": given.as_text() or f"[{msg.message_type}]"}]
        if cfg.notice:
            append.append({"role": "assistant", "content": cfg.notice})
        await self.store.complete(
            msg.msg_id,
            self.worker_id,
            reply=[text_message(cfg.notice)] if cfg.notice else None,
            memory={"memory_id": memory.id, "append": append},
            handled_by="handoff:rule",
        )

    async def _start_handoff(
        self, msg: ClaimedMessage, started_by: str, reason: Any, minutes: Any
    ) -> None:
        until = await self.store.start_handoff(
            msg.conversation_key,
            started_by,
            str(reason) if reason is not None else None,
            min(int(minutes), 10080) if minutes is not None else None,
        )
        log.info(
            "handoff_started",
            msg_id=msg.msg_id,
            user=msg.user,
            started_by=started_by,
            until=until.isoformat() if until else None,
        )

    def _workflow_from_agent(
        self, answer: AgentReply, active: Any
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """The agent's replies plus, for a start of a known workflow, its first prompt."""
        action = answer.workflow
        if not action or action.get("action") != "start":
            return answer.messages, action
        if active is not None:
            # already in a workflow: ask for its current step again instead of a second start
            return answer.messages + self.workflows.prompt(active), None
        started = self.workflows.start(
            str(action.get("workflow_type", "")), action.get("data") or {}
        )
        if started is None:
            return answer.messages, action  # a type this worker does not drive: state only
        start, prompt = started
        return answer.messages + prompt, start

    async def _refuse(self, msg: ClaimedMessage, retry_after_ms: int) -> None:
        """Over the rate limit: one polite notice per window, the rest answered with nothing."""
        cfg = self.config
        user = msg.user
        notice = await self.store.rate_limit(f"user-notice:{user}", 1, cfg.rate_limit_per)
        reply = [text_message(cfg.rate_limit_notice)] if notice.allowed else None
        await self.store.complete(
            msg.msg_id, self.worker_id, reply=reply, handled_by="rate_limited"
        )
        log.info(
            "rate_limited",
            msg_id=msg.msg_id,
            user=user,
            notice_sent=notice.allowed,
            retry_after_ms=retry_after_ms,
        )
