"""Peak memory of a benchmark process, shared by the benchmarks."""

from __future__ import annotations

import resource


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Read from ``VmHWM`` (this process image's own high-water mark): Linux's
    ``ru_maxrss`` also counts the parent's peak when a child is started by
    fork + exec, which would add a data generator's memory to the measurement.
    ``ru_maxrss`` is the fallback where ``/proc`` is absent.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
