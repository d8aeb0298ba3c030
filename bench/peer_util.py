"""What the PyTorch peers of bench/ share: resident memory as the C++ side reads it (bench/bench_util.hpp)."""
import os
import resource


def resident_mib():
    """The resident set now, in MiB (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE") / 2 ** 20


def peak_resident_mib():
    """The process's peak resident set so far, in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
