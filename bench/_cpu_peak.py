"""One core's measured FP32 peak: a tiny C loop of independent FMAs, compiled for this CPU.

A data-sheet peak needs the core's sustained clock, which a VM does not show (/proc/cpuinfo
gives the base clock), so the peak is measured: 12 independent chains of the widest FMA the
compiler targets with ``-march=native`` (AVX-512 or AVX2), enough to cover the FMA latency, each
chain one register wide (a wider vector spilled to memory on AVX2 and read 6x too low).
Needs a C compiler (``cc``); returns None without one.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

_KERNEL = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* the widest register the target has: 12 chains must fit in registers (16 ymm on AVX2; a
   64-byte vector there is two ymm each, 24 live values, and the loop spills to memory) */
#if defined(__AVX512F__)
#define W 16
#elif defined(__AVX__)
#define W 8
#else
#define W 4
#endif
typedef float vec __attribute__((vector_size(W * 4)));
int main(int argc, char **argv) {
    long iters = atol(argv[1]);
    vec a[12], b, c;
    for (int j = 0; j < W; j++) { b[j] = 0.999999f; c[j] = 1e-7f; }
    for (int i = 0; i < 12; i++) for (int j = 0; j < W; j++) a[i][j] = (float)i;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long n = 0; n < iters; n++)
        for (int i = 0; i < 12; i++) a[i] = a[i] * b + c;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    float s = 0;
    for (int i = 0; i < 12; i++) s += a[i][0];
    double dt = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    printf("%.4f %g\n", 2.0 * W * 12 * iters / dt / 1e9, s);
    return 0;
}
"""


def fp32_peak_gflops(repeats: int = 5, iters: int = 20_000_000) -> float | None:
    """The best of ``repeats`` runs of the FMA loop on one core, in GFLOP/s (None: no compiler)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    with tempfile.TemporaryDirectory(prefix="petseg-peak-") as tmp:
        src, exe = Path(tmp) / "peak.c", Path(tmp) / "peak"
        src.write_text(_KERNEL)
        build = subprocess.run([cc, "-O3", "-march=native", "-ffp-contract=fast", str(src), "-o", str(exe)],
                               capture_output=True, text=True)
        if build.returncode != 0:
            return None
        runs = [float(subprocess.run([str(exe), str(iters)], capture_output=True, text=True, check=True)
                      .stdout.split()[0]) for _ in range(repeats)]
    return max(runs)


if __name__ == "__main__":
    print(fp32_peak_gflops())
