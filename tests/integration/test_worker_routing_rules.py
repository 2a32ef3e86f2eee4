"""Keyword routing rules: the worker's matcher (worker.handler.keyword_agent) and the
database's (wapipe.keyword_agent, applied by claim_messages) give the same answers.

The claim routes in SQL; the worker routes in Python when a message comes without its
context (a refused context step, a workflow that does not take the message). Both must
pick the same agent for the same text, or a user's conversation would jump between agents.
"""

from __future__ import annotations

from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from worker.config import RoutingRule
from worker.handler import keyword_agent

RULES = (
    RoutingRule(keywords=("bill", "invoice", "pay"), agent="billing"),
    RoutingRule(keywords=("menu", "order", "menú", "commande"), agent="waiter"),
    RoutingRule(keywords=("2fa", "code_123"), agent="security"),
)
CASES = [
    "I want the MENU!",
    "menu and bill please",
    "order-now",
    "pay_bill",
    "menus",
    "¿Un MENÚ?",
    "Commande: 2 cafés",
    "my 2FA code_123 failed",
    "",
    "   ",
    "😀 menu 😀",
    "ménu",
    "bill\ninvoice",
    "muraho, nshaka menu",
]
# Words from the rules, other words, and separators of several scripts (not İ or ẞ, whose
# lowercase forms differ between Python and glibc: keywords are ASCII or Latin in practice).
ALPHABET = list("abcilmnoprstuvxyBILMNOPRSUVàçéèñóúüÉÑ0123456789_") + list(" -,.!?¿¡:;'\n😀中文")


def _sql(conn: psycopg.Connection[Any], text: str) -> str | None:
    rules = Jsonb([{"keywords": list(r.keywords), "agent": r.agent} for r in RULES])
    row = conn.execute("SELECT wapipe.keyword_agent(%s, %s)", (text, rules)).fetchone()
    assert row is not None
    return row[0]


def test_known_texts_route_the_same_in_python_and_sql(conn: psycopg.Connection[Any]) -> None:
    expected = {
        "I want the MENU!": "waiter",
        "menu and bill please": "billing",
        "pay_bill": None,
        "¿Un MENÚ?": "waiter",
        "Commande: 2 cafés": "waiter",
        "my 2FA code_123 failed": "security",
        "muraho, nshaka menu": "waiter",
    }
    for text in CASES:
        python = keyword_agent(text, RULES)
        assert python == _sql(conn, text), text
        if text in expected:
            assert python == expected[text], text


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    words=st.lists(
        st.one_of(
            st.sampled_from(["bill", "MENU", "Menú", "order", "pay", "2fa", "code_123"]),
            st.text(alphabet=ALPHABET, max_size=8),
        ),
        max_size=6,
    ),
    separators=st.lists(st.sampled_from([" ", "-", ", ", "!", "_", "\n", "😀", ""]), max_size=6),
)
def test_any_text_routes_the_same_in_python_and_sql(
    conn: psycopg.Connection[Any], words: list[str], separators: list[str]
) -> None:
    text = "".join(w + (separators[i] if i < len(separators) else " ") for i, w in enumerate(words))
    assert keyword_agent(text, RULES) == _sql(conn, text)
