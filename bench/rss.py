"""Memory of a running process, from ``/proc/PID/status`` (Linux only).

``VmHWM`` is the peak resident set size since the process started; ``VmRSS``
the current one. Both must be read while the process is alive.
"""

from __future__ import annotations

from pathlib import Path


def _status_kib(pid: int, field: str) -> int | None:
    """The ``field`` line of /proc/PID/status in KiB, or None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            value, unit = line.split(":", 1)[1].split()
            assert unit == "kB", f"unexpected unit {unit!r} in /proc/{pid}/status"
            return int(value)
    return None


def peak_rss_kib(pid: int) -> int | None:
    """Peak resident set size (VmHWM) in KiB."""
    return _status_kib(pid, "VmHWM")


def current_rss_kib(pid: int) -> int | None:
    """Current resident set size (VmRSS) in KiB."""
    return _status_kib(pid, "VmRSS")


def mib(kib: int | None) -> str:
    """KiB as a table cell in MiB ("-" when unknown)."""
    return "-" if kib is None else f"{kib / 1024:.1f}"
