"""The wapipe worker: claims queued messages and turns them into replies."""
