"""The embedded argilla-server: its own environment, a Redis-compatible server and a process supervisor."""
