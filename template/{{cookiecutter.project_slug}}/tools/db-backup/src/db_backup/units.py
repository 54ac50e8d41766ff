"""Human-readable sizes, durations and rates for log lines."""

from __future__ import annotations


def human_size(size: float) -> str:
    """Bytes in binary units: ``512 B``, ``1.5 KiB``, ``20.0 MiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``0.4 s``, ``12.3 s``, ``4m 05s``, ``2h 03m``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def human_rate(size: float, seconds: float) -> str:
    """Throughput such as ``85.2 MiB/s``."""
    return f"{human_size(size / seconds if seconds > 0 else size)}/s"
