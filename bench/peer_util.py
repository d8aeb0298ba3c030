"""What the PyTorch peers of bench/ share: peak memory as the C++ side reads it (bench/bench_util.hpp), on the
CPU (the resident set) or on a CUDA device (the caching allocator's peak of allocated bytes)."""
import os
import resource

import torch


def resident_mib():
    """The resident set now, in MiB (/proc/self/statm)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGESIZE") / 2 ** 20


def peak_resident_mib():
    """The process's peak resident set so far, in MiB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_device_option(ap):
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (or cuda:N) to run the peer on a GPU")


def check_device(device):
    """The torch.device for --device, with a clear error when CUDA was asked for and is not there."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit(f"--device {device}: this PyTorch ({torch.__version__}) sees no CUDA device; "
                         "run on a GPU node with a CUDA build of PyTorch 2.x, or use --device cpu")
    return dev


class PeakMemory:
    """Peak memory of what runs after start(), in MiB: resident set growth on the CPU, allocated bytes above
    the starting point on a GPU (what the ibq side reports from Kokkos's allocations)."""

    def __init__(self, dev):
        self.dev = dev

    def start(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)
            torch.cuda.reset_peak_memory_stats(self.dev)
            self.base = torch.cuda.memory_allocated(self.dev) / 2 ** 20
        else:
            self.base = resident_mib()

    def peak_mib(self):
        if self.dev.type == "cuda":
            return torch.cuda.max_memory_allocated(self.dev) / 2 ** 20 - self.base
        return peak_resident_mib() - self.base


def sync(dev):
    """Waits for the device, so a timer read afterwards covers the work queued before it."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
