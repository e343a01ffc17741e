"""Interleaved timing rounds that notice when other processes take the CPU.

A benchmark on a shared machine is only as good as its quiet rounds. Each round of each contender
is timed on the wall clock, and the CPU time that *other* processes used meanwhile is read from the
kernel's counters: the machine's busy time (`/proc/stat`: user, nice, system, irq, softirq and
steal) minus this process's own CPU time (`time.process_time`, all its threads). A round during
which others used more than `max_others` of the machine's CPU is disturbed: it runs again (up to
`retries` times) and, if still disturbed, is left out of the median. Contenders alternate their
order from round to round, so that slow drifts (a neighbour, caches, clocks) fall on both sides.
Where `/proc/stat` does not exist (not Linux), rounds are timed but cannot be checked.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROC_STAT = Path("/proc/stat")
BUSY_FIELDS = (0, 1, 2, 5, 6, 7)  # user, nice, system, irq, softirq, steal (not idle, iowait)


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes of the machine have spent busy since boot (None: not Linux)."""
    if not PROC_STAT.exists():
        return None
    ticks = [int(v) for v in PROC_STAT.read_text().splitlines()[0].split()[1:]]  # the "cpu" line
    return sum(ticks[i] for i in BUSY_FIELDS) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Sample:
    """One timed round: wall seconds, and the share of the machine's CPU (0..1) that other
    processes used meanwhile (None where it cannot be measured)."""

    seconds: float
    others: float | None


class Stopwatch:
    """`start()`, then `stop()` returns the `Sample` of the time in between."""

    def start(self) -> None:
        self.busy, self.ours, self.began = machine_busy_seconds(), time.process_time(), time.perf_counter()

    def stop(self) -> Sample:
        seconds = time.perf_counter() - self.began
        ours = time.process_time() - self.ours
        if self.busy is None:
            return Sample(seconds, None)
        others = max(0.0, machine_busy_seconds() - self.busy - ours)  # CPU seconds of other processes
        return Sample(seconds, others / (seconds * (os.cpu_count() or 1)))


def measure(fn: Callable[[], object]) -> Sample:
    """Run `fn` once and time it, with the CPU share other processes took meanwhile."""
    watch = Stopwatch()
    watch.start()
    fn()
    return watch.stop()


@dataclass
class Timings:
    """The rounds of one contender. `clean` leaves out rounds disturbed by other processes."""

    max_others: float
    samples: list[Sample] = field(default_factory=list)

    def quiet(self, sample: Sample) -> bool:
        return sample.others is None or sample.others <= self.max_others

    @property
    def clean(self) -> list[float]:
        return [s.seconds for s in self.samples if self.quiet(s)]

    @property
    def median(self) -> float:
        """Median seconds of the clean rounds (of every round if none is clean)."""
        return statistics.median(self.clean or [s.seconds for s in self.samples])

    @property
    def checked(self) -> bool:
        """Whether the rounds could be checked for disturbance at all."""
        return all(s.others is not None for s in self.samples)


def interleave(
    contenders: dict[str, Callable[[], object]],
    rounds: int,
    *,
    max_others: float = 0.05,
    retries: int = 2,
) -> dict[str, Timings]:
    """`rounds` timed rounds of every contender, in alternating order (round 0 in the order given,
    round 1 reversed, ...); a disturbed round is run again up to `retries` times."""
    if rounds < 1:
        raise ValueError(f"rounds={rounds} must be at least 1")
    timings = {name: Timings(max_others) for name in contenders}
    for i in range(rounds):
        order = list(contenders) if i % 2 == 0 else list(reversed(contenders))
        for name in order:
            for _ in range(retries + 1):
                sample = measure(contenders[name])
                if timings[name].quiet(sample):
                    break
            timings[name].samples.append(sample)
    return timings
