"""`make run` runs the whole portal (issue 13): the Procfile's web server and worker, started
together by honcho, the web answering on 127.0.0.1 and the worker doing its passes, and one Ctrl-C
stopping both."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from portal import create_app
from portal.core.extensions import db
from portal.integrations import outbox
from portal.integrations.models import MessageState, OutboxMessage, Target
from tests.conftest import MAIL_SENDER, config_for_tests
from tests.fakes.smtp import HOST, FakeSmtp, free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
HONCHO = BIN / "honcho"
COMMAND_SECONDS = 60  # a one-off command (honcho check, db upgrade) ends well before this
STARTUP_SECONDS = 30  # both processes are up and the worker has done a pass within this
STOP_SECONDS = 15  # after Ctrl-C, both processes are gone within this
POLL_SECONDS = 0.2
HONCHO_INTERRUPTED = 130  # honcho's exit status after SIGINT (128 + 2)
RECIPIENT = "newcomer@edye.test"
STARTED = re.compile(r"\| \w+\.\d+ started \(pid=(\d+)\)")  # honcho's line for each process it starts


def procfile() -> dict[str, str]:
    """The Procfile's process types and commands, in order."""
    processes = {}
    for line in (ROOT / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _colon, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def test_the_procfile_names_the_web_server_and_the_worker():
    processes = procfile()
    assert list(processes) == ["web", "worker"]
    assert processes["web"] == "flask --app wsgi run --host 127.0.0.1 --port $PORT"
    assert processes["worker"] == "flask --app wsgi worker"


def test_honcho_accepts_the_procfile():
    result = subprocess.run(
        [HONCHO, "check"], cwd=ROOT, capture_output=True, text=True, timeout=COMMAND_SECONDS, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Valid procfile detected (web, worker)" in result.stderr


def test_make_run_migrates_seeds_then_starts_both_processes():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE).group(1)
    steps = [line.strip() for line in recipe.splitlines()]
    assert [step.split("$(FLASK) ")[-1] for step in steps[:2]] == ["db upgrade", "demo seed"]
    assert steps[2].endswith("$(BIN)/honcho start"), "the Procfile's processes, under honcho"
    assert "PATH=" in steps[2], "the Procfile's `flask` is the virtualenv's"


# The portal running ------------------------------------------------------------------------------


def settings(database: Path, tmp_path: Path, smtp: FakeSmtp) -> dict[str, str]:
    """A development portal on a SQLite file of its own, its mail sent to the fake SMTP server."""
    return {
        "PORTAL_ENV": "development",
        "DATABASE_URL": f"sqlite:///{database}",
        "SECRET_KEY": "make-run-test",
        "SEARCH_INDEX_DIR": str(tmp_path / "search-index"),
        "MAIL_SERVER": HOST,
        "MAIL_PORT": str(smtp.port),
        "MAIL_DEFAULT_SENDER": MAIL_SENDER,
        "WORKER_POLL_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",
    }


def write_waiting_email(database: Path, tmp_path: Path) -> int:
    """An e-mail in the new portal's outbox, as its features write them; its id."""
    application = create_app(config_for_tests(f"sqlite:///{database}", tmp_path / "writer"))
    with application.app_context():
        message = outbox.enqueue(
            Target.EMAIL,
            "send",
            {"to": RECIPIENT, "subject": "Welcome", "text": "Hello.", "html": "<p>Hello.</p>"},
            "email:make-run",
        )
        db.session.commit()
        message_id = message.id
        db.engine.dispose()
    return message_id


def state_of(database: Path, tmp_path: Path, message_id: int) -> str:
    application = create_app(config_for_tests(f"sqlite:///{database}", tmp_path / "reader"))
    with application.app_context():
        state = db.session.get(OutboxMessage, message_id).state
        db.engine.dispose()
    return state


def healthz(port: int) -> dict | None:
    """The web process's /healthz answer, or None while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=1) as response:
            return json.loads(response.read())
    except OSError:
        return None


def collect(stream, lines: list[str]) -> threading.Thread:
    """Read a process's output as it comes (a full pipe would stall it)."""
    thread = threading.Thread(target=lambda: lines.extend(stream), daemon=True)
    thread.start()
    return thread


def wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


def end(honcho: subprocess.Popen, output: list[str]) -> None:
    """After a failure: honcho stops its processes on SIGTERM; any left after that are killed."""
    if honcho.poll() is None:
        honcho.terminate()
        try:
            honcho.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            honcho.kill()
            honcho.wait(timeout=STOP_SECONDS)
    for pid in STARTED.findall("".join(output)):  # each process leads a process group of its own
        with contextlib.suppress(ProcessLookupError):
            os.killpg(int(pid), signal.SIGKILL)


@pytest.fixture
def fake_mail_server():
    with FakeSmtp() as smtp:
        yield smtp


def test_honcho_runs_the_web_server_and_the_worker_and_one_ctrl_c_stops_both(tmp_path, fake_mail_server):
    database, port = tmp_path / "portal.sqlite3", free_port()
    environment = {**os.environ, **settings(database, tmp_path, fake_mail_server)}
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    upgrade = subprocess.run(
        [BIN / "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    message_id = write_waiting_email(database, tmp_path)
    # The settings travel in honcho's environment file, as a developer's .env would carry them;
    # naming a file of the test's keeps the checkout's own .env out of the test.
    env_file = tmp_path / "portal.env"
    env_file.write_text(
        "".join(f"{name}={value}\n" for name, value in settings(database, tmp_path, fake_mail_server).items())
    )
    output: list[str] = []
    honcho = subprocess.Popen(
        [HONCHO, "start", "--no-colour", "--env", str(env_file), "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so the test can always end what it started
    )
    reader = collect(honcho.stdout, output)
    try:
        assert wait_until(lambda: healthz(port) is not None, STARTUP_SECONDS), "".join(output)
        assert healthz(port) == {"status": "ok", "database": "ok"}
        assert wait_until(lambda: fake_mail_server.to(RECIPIENT), STARTUP_SECONDS), "".join(output)
        assert state_of(database, tmp_path, message_id) == MessageState.DELIVERED.value, "the worker did a pass"
        log = "".join(output)
        assert f"Running on http://{HOST}:{port}" in log, "the web process serves on the loopback only"
        assert re.search(r"worker\.1 *\| worker started", log), log

        honcho.send_signal(signal.SIGINT)  # what Ctrl-C sends to the foreground process
        assert honcho.wait(timeout=STOP_SECONDS) == HONCHO_INTERRUPTED
        reader.join(timeout=STOP_SECONDS)
        log = "".join(output)
        assert re.search(r"worker\.1 *\| worker stopped", log), log
        assert healthz(port) is None, "the web process stopped too"
    finally:
        end(honcho, output)
