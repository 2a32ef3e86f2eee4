"""The webhook ingress: a small Starlette app between Meta and `wapipe.ingest_webhook`."""
