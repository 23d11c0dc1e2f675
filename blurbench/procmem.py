"""Process memory probes from ``/proc/self`` (Linux): the resident set and its high-water mark.

Used by the solvers' per-stage profiling and by the benchmarks; every probe returns None / False where the
file is missing (other systems), so callers fall back to ``resource.getrusage``.
"""

from __future__ import annotations

__all__ = ["release_free_heap", "reset_peak_rss", "status_mib"]

_LIBC: list = []  # the C library once loaded (None where it has no malloc_trim)


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


def release_free_heap() -> bool:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``); False where there is no such call.

    Freed blocks below glibc's mmap threshold (up to 32 MB) stay in the process's heap and its resident set; after
    a phase that allocates many such temporaries while keeping some results (GVD's chunked matrix assembly:
    ~1 GB per 720p frame), this returns them.
    """
    if not _LIBC:
        try:
            import ctypes  # deferred: only this probe needs the C library

            lib = ctypes.CDLL("libc.so.6")
            _LIBC.append(lib if hasattr(lib, "malloc_trim") else None)
        except (OSError, AttributeError):
            _LIBC.append(None)
    if _LIBC[0] is None:
        return False
    _LIBC[0].malloc_trim(0)
    return True
