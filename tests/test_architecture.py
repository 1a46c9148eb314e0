"""The map of rooms is kept true: the import contracts hold, every package and module of a room
is on the map, and no module grows past what one reads in a few minutes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROOMS = ("portal", "auth", "kb", "admin")
MODULE_LINES_MAX = 450


def _modules():
    for room in ROOMS:
        for path in sorted((ROOT / room).rglob("*.py")):
            if "translations" not in path.parts:
                yield path


def test_the_import_contracts_hold():
    """The contracts in pyproject.toml (layers, forbidden imports, no cycles) — the same check
    `make lint` runs, in its own process because it reconfigures logging."""
    command = [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"]
    checked = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout[-3000:]


def test_every_package_of_the_portal_is_on_the_map():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = {path.parent.relative_to(ROOT).as_posix() for path in _modules() if path.name == "__init__.py"}
    missing = sorted(package for package in packages if f"`{package}/" not in text and f"`{package}`" not in text)
    assert not missing, f"docs/architecture.md does not place {missing}"


def test_no_module_is_too_long_to_read():
    long = {
        path.relative_to(ROOT).as_posix(): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES_MAX
    }
    assert not long, f"split these by concern: {long}"
