"""Health: process figures from /proc and /sys, and the gateway/status messages built from them."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds() -> float:
    """CPU time (user + system) this process has used."""
    t = os.times()
    return t.user + t.system


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB."""
    with open(f"/proc/{pid}/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE / 2**20


def cpu_seconds_of(pid: int) -> float:
    """CPU time (user + system) of another process, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def temperature_c() -> float | None:
    """The SoC temperature where the kernel exposes one (Raspberry Pi: thermal_zone0), else None."""
    for path in sorted(glob.glob("/sys/class/thermal/thermal_zone*/temp")):
        try:
            with open(path) as fh:
                value = int(fh.read().strip()) / 1000
        except (OSError, ValueError):
            continue
        if -100 <= value <= 200:
            return round(value, 1)
    return None


@dataclass(slots=True)
class CpuMeter:
    """CPU% of one core between successive calls."""

    last_cpu: float
    last_wall: float

    def percent(self, now_wall: float) -> float:
        """CPU% used since the previous call."""
        cpu = cpu_seconds()
        span = now_wall - self.last_wall
        pct = 100.0 * (cpu - self.last_cpu) / span if span > 0 else 0.0
        self.last_cpu, self.last_wall = cpu, now_wall
        return round(max(pct, 0.0), 2)
