"""wapipe.log: JSON lines with correlation id; phone numbers masked, bodies never logged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from wapipe.log import mask_phone


@pytest.mark.parametrize(
    ("given", "masked"),
    [
        ("250788123456", "+250788***456"),
        ("+250788123456", "+250788***456"),
        ("from 250788999000 to 250780000100", "from +250788***000 to +250780***100"),
        ("1234567890", "+123456***890"),
        ("123456789012345", "+123456***345"),
        ("123456789", "123456789"),  # 9 digits: not a phone number
        ("1234567890123456", "1234567890123456"),  # 16 digits: not one either
        ("event 42", "event 42"),
        ("conversation 300100200300400:250788123456", "conversation +300100***400:+250788***456"),
    ],
)
def test_mask_phone(given: str, masked: str) -> None:
    assert mask_phone(given) == masked


def run_logging(code: str, env: dict[str, str] | None = None) -> str:
    """Runs code in a fresh interpreter (logging set-up is process-wide); returns stderr."""
    program = "from wapipe.log import *\n" + textwrap.dedent(code)
    result = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=True,
    )
    return result.stderr


def test_json_lines_carry_process_level_time_and_correlation_id() -> None:
    out = run_logging(
        """
        configure_logging("worker")
        bind_correlation_id("cid-1")
        get_logger("wapipe.test").info("claimed", message_id=7)
        """
    )
    line = json.loads(out.strip())
    assert line["event"] == "claimed"
    assert line["message_id"] == 7
    assert line["correlation_id"] == "cid-1"
    assert line["process"] == "worker"
    assert line["level"] == "info"
    assert line["logger"] == "wapipe.test"
    assert line["timestamp"].endswith("Z")


def test_phone_numbers_masked_and_bodies_blanked_everywhere() -> None:
    out = run_logging(
        """
        import logging
        configure_logging("ingress")
        log = get_logger("wapipe.test")
        log.info("from 250788123456", wa_id="250788123456", number=250788999000,
                 body="my secret text", text="also secret",
                 message={"text": {"body": "nested secret"}, "from": "250788123456"},
                 contacts=[{"wa_id": "250788999000"}])
        logging.getLogger("psycopg").warning("peer 250788123456 said %s", "hi")
        try:
            raise ValueError("bad number 250788123456")
        except ValueError:
            log.exception("failed")
        """
    )
    for secret in ("250788123456", "250788999000", "secret", "also secret"):
        assert secret not in out, out
    lines = [json.loads(x) for x in out.strip().splitlines()]
    assert lines[0]["event"] == "from +250788***456"
    assert lines[0]["number"] == "+250788***000"
    assert lines[0]["body"] == "[redacted]"
    assert lines[0]["message"]["text"] == "[redacted]"
    assert lines[1]["event"] == "peer +250788***456 said hi"
    assert lines[1]["logger"] == "psycopg"
    assert "+250788***456" in lines[2]["exception"]


def test_console_format() -> None:
    env = {**os.environ, "WAPIPE_LOG_FORMAT": "console"}
    out = run_logging(
        """
        configure_logging("ingress")
        get_logger("x").warning("hello", wa_id="250788123456")
        """,
        env=env,
    )
    assert "hello" in out
    assert "wa_id=+250788***456" in out
    assert not out.startswith("{")


def test_configure_twice_does_not_duplicate_lines() -> None:
    out = run_logging(
        """
        configure_logging("ingress")
        configure_logging("ingress")
        get_logger("x").info("once")
        """
    )
    assert out.count("once") == 1


def test_debug_lines_hidden_at_info() -> None:
    out = run_logging(
        """
        configure_logging("ingress")
        get_logger("x").debug("hidden")
        get_logger("x").info("shown")
        """
    )
    assert "hidden" not in out
    assert "shown" in out


def test_debug_enabled_follows_the_configured_level() -> None:
    out = run_logging(
        """
        import sys
        from wapipe.settings import LogSettings
        print("before", debug_enabled(), file=sys.stderr)
        configure_logging("ingress", LogSettings(level="INFO"))
        print("info", debug_enabled(), file=sys.stderr)
        configure_logging("ingress", LogSettings(level="DEBUG"))
        print("debug", debug_enabled(), file=sys.stderr)
        """
    )
    assert out.splitlines() == ["before True", "info False", "debug True"]


def test_lines_are_masked_even_before_configure_logging() -> None:
    import subprocess
    import sys

    code = (
        "from wapipe.log import get_logger;"
        "get_logger('x').info('message_handled', user='250700000043', body='my secret text')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    out = result.stdout + result.stderr
    assert "+250700***043" in out
    assert "250700000043" not in out
    assert "my secret text" not in out


def test_standard_library_lines_follow_a_swapped_stderr() -> None:
    # configured while stderr was another stream that was then closed (what a test's
    # capture does): the line goes to the stderr of the moment, not "--- Logging error ---"
    out = run_logging(
        """
        import io, logging, sys
        real, captured = sys.stderr, io.StringIO()
        sys.stderr = captured
        configure_logging("worker")
        captured.close()
        sys.stderr = real
        logging.getLogger("psycopg.pool").warning("pool is %s", "full")
        """
    )
    assert "Logging error" not in out, out
    assert json.loads(out.strip().splitlines()[-1])["event"] == "pool is full"
