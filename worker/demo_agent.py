"""`wapipe demo-agent`: an offline restaurant waiter speaking the `wapipe` agent protocol.

It greets, answers a few menu questions and, when the user wants to order,
asks the worker to start the `order` workflow (the worker then sends the menu
as an interactive list). A photo (any media) is answered with what the request's
`media` descriptor says of it. Deterministic, no model: good for demos and tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from worker.workflows import MENU

ORDER_WORDS = ("order", "hungry", "buy", "i want", "i'd like")
# How long the waiter "thinks" before each answer (`wapipe demo-agent --think-seconds`):
# 0 by default; a few seconds show the typing indicator in the playground, as an LLM would.
THINK_SECONDS = 0.0


def describe_media(media: dict[str, Any]) -> str:
    """A reply that proves the waiter saw the media descriptor (worker.media): its type,
    MIME type and size, e.g. "Nice photo! (image/png, 12 KB)"."""
    kind = str(media.get("type") or "file")
    size = media.get("size")
    details = [str(media.get("mime_type") or "unknown type")]
    if isinstance(size, int):
        details.append(f"{max(1, round(size / 1024))} KB")
    noun = "photo" if kind in ("image", "sticker") else kind
    if media.get("status") == "oversize":
        return f"That {noun} is too large for me to look at ({', '.join(details)})."
    reply = f"Nice {noun}! ({', '.join(details)})"
    caption = media.get("caption")
    return f'{reply} You wrote: "{caption}".' if isinstance(caption, str) and caption else reply


def answer(
    text: str, context: dict[str, Any], media: dict[str, Any] | None = None
) -> dict[str, Any]:
    lowered = text.lower()
    seen = int(context.get("turns", 0)) + 1
    new_context = {"turns": seen}
    if media is not None:
        return {"reply": describe_media(media), "context": new_context}
    if any(w in lowered for w in ORDER_WORDS):
        return {
            "reply": "Lovely! Here is our menu.",
            "context": new_context,
            "workflow": {"action": "start", "workflow_type": "order"},
        }
    if "menu" in lowered or "eat" in lowered or "food" in lowered:
        items = ", ".join(f"{title} (€{price:.2f})" for title, price in MENU.values())
        reply = f"Today we have: {items}. Say 'order' when you're ready."
    elif "vegetarian" in lowered or "vegan" in lowered:
        reply = "The Pizza Margherita and the Caesar salad (without chicken) are vegetarian."
    elif "open" in lowered or "hours" in lowered:
        reply = "We're open every day from 11:00 to 23:00."
    elif any(w in lowered.split() for w in ("hi", "hello", "hey", "bonjour", "muraho")):
        reply = (
            "Welcome back! What can I get you?"
            if seen > 1
            else "Hello and welcome! I'm your waiter. Ask me about the menu, or say 'order'."
        )
    elif "thank" in lowered:
        reply = "You're welcome!"
    else:
        reply = "I can tell you about the menu, our opening hours, or take your order."
    return {"reply": reply, "context": new_context}


async def agent(request: Request) -> JSONResponse:
    body = await request.json()
    if not isinstance(body, dict):
        return JSONResponse({"error": "expected a JSON object"}, status_code=400)
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    if THINK_SECONDS > 0:
        await asyncio.sleep(THINK_SECONDS)
    media = body.get("media") if isinstance(body.get("media"), dict) else None
    return JSONResponse(answer(str(body.get("text") or ""), context or {}, media))


async def healthz(_: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


routes = [Route("/agent", agent, methods=["POST"]), Route("/healthz", healthz)]
app = Starlette(routes=routes)
