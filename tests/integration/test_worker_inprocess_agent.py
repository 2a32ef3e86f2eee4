"""The `python` agent protocol: an agent function in the worker process (no HTTP), under
the same timeout class, breaker, retries and memory as an HTTP agent."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fakes import WorkerProcess, scalar, send_text, wait_for, write_config
from wapipe.errors import WapipeError
from worker.agents import in_process_agent
from worker.config import parse_config


def _service(name: str, function: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "protocol": "python",
        "callable": f"tests.fakes.inprocess_agent:{function}",
        **extra,
    }


def test_config_needs_a_callable_and_checks_it_loads() -> None:
    with pytest.raises(WapipeError, match=re.escape('needs callable = "package.module:function"')):
        parse_config({"services": [{"name": "x", "protocol": "python"}]})
    with pytest.raises(WapipeError, match="needs callable"):
        parse_config({"services": [{"name": "x", "protocol": "python", "callable": "nocolon"}]})
    config = parse_config({"services": [_service("x", "echo")]})
    assert config.services[0].endpoints == ("python:tests.fakes.inprocess_agent:echo",)
    assert config.services[0].in_process
    with pytest.raises(WapipeError, match="cannot be loaded"):
        in_process_agent("python:tests.fakes.inprocess_agent:missing")
    with pytest.raises(WapipeError, match="cannot be loaded"):
        in_process_agent("python:tests.fakes.no_such_module:echo")
    with pytest.raises(WapipeError, match="is not callable"):
        in_process_agent("python:tests.fakes.inprocess_agent:not_callable")


def test_in_process_agent_answers_with_memory_and_is_shown_healthy(
    conn: psycopg.Connection[Any], db_url: str, server_tmp: Path, workers: list[WorkerProcess]
) -> None:
    config = write_config(
        server_tmp / "w.toml",
        [_service("inproc", "echo"), _service("plainer", "plain")],
        routing={"default_agent": "inproc", "rules": [{"keywords": ["plain"], "agent": "plainer"}]},
    )
    w = WorkerProcess(db_url, config, server_tmp, "--concurrency", "4")
    workers.append(w)
    send_text(conn, "250788000101", "hello")
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 1, what="a reply")
    send_text(conn, "250788000101", "again")
    send_text(conn, "250788000102", "plain please")
    wait_for(lambda: scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 3, what="3 replies")
    bodies = {
        r[0] for r in conn.execute("SELECT body->'text'->>'body' FROM wapipe.outbox").fetchall()
    }
    assert bodies == {"in-process: hello", "in-process: again", "plain: plain please"}
    assert (
        scalar(
            conn,
            "SELECT context->>'turns' FROM wapipe.ai_conversation_memory "
            "WHERE user_phone = '250788000101' AND agent_type = 'inproc'",
        )
        == "2"
    )
    wait_for(
        lambda: (
            scalar(
                conn,
                "SELECT count(*) FROM wapipe.service_endpoints WHERE healthy "
                "AND endpoint = 'python:tests.fakes.inprocess_agent:echo'",
            )
            == 1
        ),
        what="the in-process endpoint recorded healthy",
    )
    assert w.terminate() == 0


@pytest.mark.parametrize(
    ("function", "code"), [("boom", "agent_exception"), ("slow", "agent_timeout")]
)
def test_in_process_agent_failure_is_retried_with_its_code(
    conn: psycopg.Connection[Any],
    db_url: str,
    server_tmp: Path,
    workers: list[WorkerProcess],
    function: str,
    code: str,
) -> None:
    # slow sleeps 30 s; boom raises at once, well within 2 s on a loaded machine too
    config = write_config(server_tmp / "w.toml", [_service("inproc", function, timeout_seconds=2)])
    w = WorkerProcess(db_url, config, server_tmp)
    workers.append(w)
    send_text(conn, "250788000201", "hi")
    wait_for(
        lambda: (
            scalar(
                conn,
                "SELECT count(*) FROM wapipe.processed_messages "
                "WHERE status = 'queued' AND attempts = 1 AND last_error LIKE %s",
                f"%{code}%",
            )
            == 1
        ),
        what=f"a retry scheduled for {code}",
    )
    assert scalar(conn, "SELECT count(*) FROM wapipe.outbox") == 0
    assert w.terminate() == 0
    assert f'"error_code": "{code}"' in w.output()


def test_worker_refuses_to_start_with_an_agent_it_cannot_load(
    db_url: str, server_tmp: Path, workers: list[WorkerProcess]
) -> None:
    config = write_config(server_tmp / "w.toml", [_service("inproc", "missing")])
    w = WorkerProcess(db_url, config, server_tmp)
    workers.append(w)
    assert w.proc.wait(timeout=30) != 0
    assert "cannot be loaded" in w.output()
