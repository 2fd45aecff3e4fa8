"""The pipeline's progress events: an ETA only once the rate is measured past the first (warm-up) step."""

from __future__ import annotations

from heartmula_core.progress import Reporter
from heartmula_core.progress import Phase


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_first_frame_s_warm_up_does_not_inflate_the_eta() -> None:
    clock, events = Clock(), []
    report = Reporter(events.append, clock)
    report.begin(Phase.TOKENS)
    clock.now = 30.0  # the prompt's prefill and first allocations: 30 s for frame 1
    report(Phase.TOKENS, 1, 1000, 0.0)
    for frame in range(2, 40):
        clock.now += 0.1  # then 0.1 s a frame
        report(Phase.TOKENS, frame, 1000, 0.0)
    etas = [e.eta for e in events]
    # No estimate until 2% of the frames (20) are measured after the first; then the true rate.
    assert etas[:20] == [None] * 20
    assert abs(etas[20] - 0.1 * (1000 - 21)) < 1e-6
    assert abs(etas[-1] - 0.1 * (1000 - 39)) < 1e-6


def test_a_few_windows_get_an_eta_from_the_second_and_zero_at_the_end() -> None:
    clock, events = Clock(), []
    report = Reporter(events.append, clock)
    report.begin(Phase.DECODING)
    for window in (1, 2, 3, 4):
        clock.now += 2.0
        report(Phase.DECODING, window, 4, 0.0)
    assert [e.eta for e in events] == [None, 4.0, 2.0, 0.0]
