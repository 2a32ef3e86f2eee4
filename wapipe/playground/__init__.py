"""A local WhatsApp for development: chat with your agent in the browser.

One small server (127.0.0.1 only) plays both sides of Meta: a Graph API stand-in
that the real sender posts its replies to (`WHATSAPP_API_URL` pointed at it) and
that answers with wamids, posts the status webhooks back and serves media (id ->
URL -> bytes, uploads; wapipe.playground.media), and a chat page
whose messages become signed webhooks to the real ingress. `wapipe run` starts
it when no access token is configured; `wapipe playground` starts it alone.
It never runs beside a real access token: it must not answer for Meta.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from wapipe.errors import WapipeError
from wapipe.playground.app import PlaygroundConfig, create_app
from wapipe.settings import DEFAULT_PLAYGROUND_PORT

__all__ = [
    "DEFAULT_PORT",
    "GRAPH_VERSION",
    "HOST",
    "PLAYGROUND_ACCESS_TOKEN",
    "PlaygroundConfig",
    "create_app",
    "graph_api_url",
    "refuse_real_access_token",
    "serve",
]

HOST = "127.0.0.1"
DEFAULT_PORT = DEFAULT_PLAYGROUND_PORT
GRAPH_VERSION = "v21.0"
# What `wapipe run` gives the sender instead of a real token: it sends to the stand-in.
PLAYGROUND_ACCESS_TOKEN = "wapipe-playground-not-a-real-token"
META_GRAPH_HOSTS = frozenset({"graph.facebook.com", "graph.whatsapp.com"})


def graph_api_url(port: int) -> str:
    """The WHATSAPP_API_URL that sends to the playground on this port."""
    return f"http://{HOST}:{port}/{GRAPH_VERSION}"


def refuse_real_access_token(access_token: str, api_url: str) -> None:
    """Raise when a real access token is configured: any token while the Graph API URL is
    Meta's. The playground must never stand in for Meta in production."""
    if not access_token.strip():
        return
    host = (urlsplit(api_url).hostname or "").lower()
    if host in META_GRAPH_HOSTS or host.endswith(".facebook.com"):
        raise WapipeError(
            "WHATSAPP_ACCESS_TOKEN is set and WHATSAPP_API_URL is Meta's Graph API: "
            "the playground does not start beside a real access token "
            "(unset WHATSAPP_ACCESS_TOKEN to develop locally)"
        )


def serve(config: PlaygroundConfig, port: int) -> None:
    """Run the playground until SIGINT/SIGTERM (uvicorn, 127.0.0.1 only)."""
    import uvicorn

    app = create_app(config)

    class _Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # the event streams never end by themselves: end them, or shutdown waits
            playground = app.state.playground.get("playground")
            if playground is not None:
                playground.hub.close()
            super().handle_exit(sig, frame)

    uvicorn_config = uvicorn.Config(
        app,
        host=HOST,
        port=port,
        log_config=None,  # wapipe.log owns logging
        access_log=False,  # URLs carry the token
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    _Server(uvicorn_config).run()
