"""A small workflow engine and the demo `order` workflow.

A workflow type declares its steps and what each step accepts. State lives in
wapipe.workflow_states and only moves through complete_message's workflow
action (start / advance with the expected step, complete, fail), in the same
transaction as the reply, so a reply is never sent for a step that did not
happen. One active workflow per user and the inactivity timeout are enforced
in SQL; expire_workflows (pg_cron) tells the user when one expires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from worker.agents import text_message
from worker.store import WorkflowState


@dataclass(frozen=True)
class Input:
    """What the user sent, reduced to what steps look at."""

    kind: str  # "text", "choice" (button/list reply), "other"
    value: str  # text body or the choice id
    title: str = ""

    @classmethod
    def of(cls, message_type: str, payload: dict[str, Any]) -> Input:
        if message_type == "text":
            return cls("text", str(payload.get("text", {}).get("body", "")).strip())
        if message_type == "interactive":
            inter = payload.get("interactive", {})
            reply = inter.get(inter.get("type", ""), {})
            if isinstance(reply, dict) and "id" in reply:
                return cls("choice", str(reply["id"]), str(reply.get("title", "")))
        if message_type == "button":
            button = payload.get("button", {})
            return cls("choice", str(button.get("payload", "")), str(button.get("text", "")))
        return cls("other", "")

    def as_text(self) -> str:
        return self.title or self.value


@dataclass(frozen=True)
class StepResult:
    reply: list[dict[str, Any]]
    action: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)


class WorkflowType(Protocol):
    name: str
    first_step: str
    timeout_seconds: int

    def prompt(self, step: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        """The message(s) that ask for a step's input."""

    def accepts(self, step: str, given: Input) -> bool:
        """Whether this step takes this input (else the message goes to the agent)."""

    def handle(self, state: WorkflowState, given: Input) -> StepResult:
        """Reply and action for an accepted input."""


class WorkflowEngine:
    def __init__(self, types: list[WorkflowType]) -> None:
        self.types = {t.name: t for t in types}

    def accepts(self, state: WorkflowState, given: Input) -> bool:
        wf = self.types.get(state.workflow_type)
        return wf is not None and wf.accepts(state.current_step, given)

    def handle(self, state: WorkflowState, given: Input) -> StepResult:
        return self.types[state.workflow_type].handle(state, given)

    def start(
        self, workflow_type: str, data: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """The start action and first prompt of a known type; None for an unknown one."""
        wf = self.types.get(workflow_type)
        if wf is None:
            return None
        action = {
            "action": "start",
            "workflow_type": wf.name,
            "first_step": wf.first_step,
            "data": data or {},
            "timeout": f"{wf.timeout_seconds} seconds",
        }
        return action, wf.prompt(wf.first_step, data or {})

    def prompt(self, state: WorkflowState) -> list[dict[str, Any]]:
        wf = self.types.get(state.workflow_type)
        return wf.prompt(state.current_step, state.data) if wf else []


# -- the demo `order` workflow ---------------------------------------------------

MENU: dict[str, tuple[str, float]] = {
    "margherita": ("Pizza Margherita", 9.50),
    "burger": ("Classic burger", 11.00),
    "salad": ("Caesar salad", 8.00),
    "tiramisu": ("Tiramisu", 5.50),
}
CANCEL_WORDS = frozenset({"cancel", "stop", "quit"})


def _buttons(body: str, buttons: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {
                "buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in buttons]
            },
        },
    }


class OrderWorkflow:
    """Menu (list) -> item -> quantity (buttons) -> confirm (buttons) -> summary."""

    name = "order"
    first_step = "choose_item"
    timeout_seconds = 30 * 60

    def prompt(self, step: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        if step == "choose_item":
            return [
                {
                    "type": "interactive",
                    "interactive": {
                        "type": "list",
                        "header": {"type": "text", "text": "Menu"},
                        "body": {"text": "What would you like to order?"},
                        "action": {
                            "button": "See the menu",
                            "sections": [
                                {
                                    "title": "Today",
                                    "rows": [
                                        {
                                            "id": f"item:{key}",
                                            "title": title,
                                            "description": f"€{price:.2f}",
                                        }
                                        for key, (title, price) in MENU.items()
                                    ],
                                }
                            ],
                        },
                    },
                }
            ]
        if step == "choose_quantity":
            title = MENU[str(data.get("item"))][0]
            return [_buttons(f"How many {title}?", [(f"qty:{n}", str(n)) for n in (1, 2, 3)])]
        if step == "confirm":
            return [
                _buttons(
                    self._summary(data) + "\nConfirm?",
                    [("confirm:yes", "Confirm"), ("confirm:no", "Cancel")],
                )
            ]
        return []

    def accepts(self, step: str, given: Input) -> bool:
        if given.kind == "text" and given.value.lower() in CANCEL_WORDS:
            return True
        if step == "choose_item":
            return given.kind == "choice" and given.value.removeprefix("item:") in MENU
        if step == "choose_quantity":
            if given.kind == "choice":
                return given.value.startswith("qty:") and given.value[4:].isdigit()
            return given.kind == "text" and given.value.isdigit() and 1 <= int(given.value) <= 20
        if step == "confirm":
            return given.kind == "choice" and given.value in ("confirm:yes", "confirm:no")
        return False

    def handle(self, state: WorkflowState, given: Input) -> StepResult:
        step = state.current_step
        data: dict[str, Any]
        if given.kind == "text" and given.value.lower() in CANCEL_WORDS:
            return self._cancel(state)
        if step == "choose_item":
            data = {"item": given.value.removeprefix("item:")}
            return StepResult(
                self.prompt("choose_quantity", data),
                {
                    "action": "advance",
                    "id": state.id,
                    "expected_step": step,
                    "next_step": "choose_quantity",
                    "data": data,
                },
                data,
            )
        if step == "choose_quantity":
            qty = int(given.value.removeprefix("qty:"))
            data = {**state.data, "quantity": qty}
            return StepResult(
                self.prompt("confirm", data),
                {
                    "action": "advance",
                    "id": state.id,
                    "expected_step": step,
                    "next_step": "confirm",
                    "data": {"quantity": qty},
                },
                data,
            )
        if given.value == "confirm:no":
            return self._cancel(state)
        data = {**state.data, "total": self._total(state.data)}
        return StepResult(
            [
                text_message(
                    "Order confirmed! "
                    + self._summary(data)
                    + "\nWe'll let you know when it's on its way."
                )
            ],
            {"action": "complete", "id": state.id, "data": {"total": data["total"]}},
            data,
        )

    def _cancel(self, state: WorkflowState) -> StepResult:
        return StepResult(
            [text_message("Your order is cancelled. Write to us any time!")],
            {"action": "fail", "id": state.id, "error": "cancelled by the user"},
        )

    @staticmethod
    def _total(data: dict[str, Any]) -> float:
        return round(MENU[str(data["item"])][1] * int(data["quantity"]), 2)

    def _summary(self, data: dict[str, Any]) -> str:
        title = MENU[str(data["item"])][0]
        return f"{data['quantity']} x {title}, total €{self._total(data):.2f}."


def default_engine() -> WorkflowEngine:
    return WorkflowEngine([OrderWorkflow()])
