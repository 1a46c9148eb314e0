"""Page throughput under gunicorn (2 sync workers) as a share of a hello-world Flask app.

Serves bench/hello.py and the portal (SQLite with the shipped knowledge base and demo users) the
same way, loads each page with wrk (keep-alive, 2 threads, 8 connections) and prints requests per
second and the share of hello-world's. Pages are requested as the demo partner.
Needs `wrk` (Debian: `apt-get install wrk`). Run: `.venv/bin/python bench/pages.py [--seconds 10]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import requests
from serving import ROOT, portal_environment, served

PAGES = {
    "kb_article": "/kb/es/subtitulos-no-se-muestran",
    "search_results": "/kb/search?q=subtitulos+no+aparecen",
    "ticket_list": "/tickets/",
}
TARGETS = {"kb_article": 0.30, "search_results": 0.10, "ticket_list": 0.25}
USER_AGENT = "edye-pages-bench"


def wrk(url: str, seconds: int, cookie: str | None = None) -> float:
    command = ["wrk", "-t2", "-c8", f"-d{seconds}s", "-H", f"User-Agent: {USER_AGENT}", url]
    if cookie:
        command[1:1] = ["-H", f"Cookie: {cookie}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} failed responses\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))


def prepare_portal(workdir: Path) -> dict:
    env = portal_environment(f"sqlite:///{workdir / 'portal.sqlite3'}", workdir / "index")
    for command in (["db", "upgrade"], ["demo", "seed"]):
        subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *command],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    return env


def partner_cookie(base: str) -> str:
    session = requests.Session()
    # Sessions are bound to the browser that logged in (Flask-Login strong protection).
    session.headers["User-Agent"] = USER_AGENT
    page = session.get(base + "/login").text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = session.post(
        base + "/login",
        data={"csrf_token": token, "email": "partner@andes.test", "password": "demo-2026-andes-p1"},
        allow_redirects=False,
    )
    assert response.status_code == 302, response.text[:300]
    return "; ".join(f"{name}={value}" for name, value in session.cookies.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="pages-bench-"))
    try:
        env = prepare_portal(workdir)
        with served("hello:app", dict(os.environ), ROOT / "bench") as hello_base:
            reference = wrk(hello_base + "/", args.seconds)
        with served("wsgi:app", env) as base:
            cookie = partner_cookie(base)
            results = {name: wrk(base + path, args.seconds, cookie) for name, path in PAGES.items()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    report = {"hello_world_rps": round(reference, 1)}
    for name, rps in results.items():
        report[name] = {
            "rps": round(rps, 1),
            "share": round(rps / reference, 3),
            "target": TARGETS[name],
            "met": rps / reference >= TARGETS[name],
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
