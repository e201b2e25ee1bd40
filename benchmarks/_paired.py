"""What the paired-round scripts of this folder share: the best of a few
calls, and a ratio's median with its range over the rounds."""
import statistics
import time


def best(fn, k):
    """The fastest of ``k`` calls of ``fn``, in seconds."""
    fastest = float("inf")
    for _ in range(k):
        t0 = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest


def spread(ratios):
    """``"1.23x  (min 1.10, max 1.40)"``: the median of per-round ratios and their range."""
    return (f"{statistics.median(ratios):5.2f}x  "
            f"(min {min(ratios):.2f}, max {max(ratios):.2f})")
