"""Process memory probes from ``/proc/self`` (Linux): the resident set and its high-water mark.

Used by the solvers' per-stage profiling and by the benchmarks; every probe returns None / False where the
file is missing (other systems), so callers fall back to ``resource.getrusage``.
"""

from __future__ import annotations

__all__ = ["reset_peak_rss", "status_mib"]


def status_mib(key: str) -> float | None:
    """A ``/proc/self/status`` memory field (e.g. ``VmHWM``, ``VmRSS``) in MiB; None where there is none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the process's resident high-water mark (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
