"""The portal (or bench/hello.py) served by gunicorn, for the benchmarks that measure over HTTP.

The scripts run as files (`.venv/bin/python bench/<script>.py`), so this folder is on their path.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
START_TRIES = 100  # probes 0.1 s apart: gunicorn gets about ten seconds to answer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def portal_environment(database_url: str, index_dir: Path) -> dict:
    """The portal's environment in a benchmark: its own database and search index, no rate limits."""
    return dict(
        os.environ,
        SECRET_KEY="bench",
        DATABASE_URL=database_url,
        SEARCH_INDEX_DIR=str(index_dir),
        LOG_LEVEL="WARNING",
        RATELIMIT_ENABLED="false",
    )


@contextmanager
def served(app: str, env: dict, cwd: Path = ROOT, probe: str = "/"):
    """Serve the WSGI `app` ("module:name") with 2 sync workers on a free port; yields its base URL
    once `probe` answers, and stops the server afterwards."""
    port = free_port()
    command = ["gunicorn", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning", app]
    process = subprocess.Popen([sys.executable, "-m", *command], cwd=cwd, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(START_TRIES):
            try:
                requests.get(base + probe, timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):  # not listening yet, or still booting
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{app} did not start")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
