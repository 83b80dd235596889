# The sampler and the block path at the edges of the ESP32's 31-bit small ints (an int >= 2**30
# is a heap-allocated long there) and with a full schedule queue: every counter starts just
# below its wrap, the interrupt and block paths run under heap_lock, and each test also checks
# the stored values explicitly (< 2**30), which catches a regression on a 64-bit port too.
import micropython
from array import array

import coeffs
from device.app import EPOCH_MS, App
from device.sampler import WRAP, EmgSampler
from mpunit import assert_equal

LIMIT = 1 << 30


class _Counter:
    """A sample source without a simulator behind it: only the sampler's own code runs."""

    def __init__(self):
        self.k = 0

    def sample_into(self, a0, a1, i):
        self.k += 1
        a0[i] = self.k & 0xFFFF
        if a1 is not None:
            a1[i] = -(self.k & 0xFFFF)
        return 0


def small_ints(obj, where):
    """Every int attribute of obj is a small int on the ESP32 (< 2**30 in magnitude)."""
    for name in dir(obj):
        v = getattr(obj, name)
        if isinstance(v, int) and not isinstance(v, bool):
            assert -LIMIT <= v < LIMIT, "%s.%s = %d is a long int on the ESP32" % (where, name, v)


def _nothing(_arg):
    pass


def near_wrap(s):
    s._read_ref = _nothing               # the queue is real; the test calls read() itself
    s.irqs = WRAP - 5
    s._edges = s._edges_done = WRAP - 3
    s.missed = WRAP - 2
    s.sched_full = WRAP - 1
    s._wblk = s._rblk = WRAP - 2
    s.dropped = WRAP - 15
    s.overruns = WRAP - 1
    s.ms = EPOCH_MS + 600000         # well past the restart point, still < 2**30


def _edges(s, n, late):
    """n DRDY edges; with late, each read comes after two edges (one conversion missed)."""
    for _ in range(n):
        s.drdy_irq(None)
        if late:
            s._sched = False             # the first read never ran: the next edge asks again
            s.drdy_irq(None)
        s.read(0)


def test_counters_wrap_on_the_irq_and_block_paths_under_heap_lock():
    s = EmgSampler(_Counter(), 2, 1000, 10, 4, lambda: 0)
    near_wrap(s)
    r0, r1 = array("i", [0] * 10), array("i", [0] * 10)
    ms0 = s.ms
    micropython.heap_lock()
    try:
        _edges(s, 6, False)              # irqs and edges wrap
        _edges(s, 4, True)               # missed wraps: 4 conversions held
        start = s.next_block(r0, r1)     # 10 + 4 samples: one whole block
        _edges(s, 60, False)             # 6 more blocks: the ring of 4 is lapped
        start2 = s.next_block(r0, r1)
    finally:
        micropython.heap_unlock()
    assert_equal(start, ms0)
    assert_equal(s.irqs, (WRAP - 5 + 6 + 4 + 60) % WRAP)
    assert_equal(s.missed, (WRAP - 2 + 4) % WRAP)
    assert_equal(s._edges, (WRAP - 3 + 6 + 8 + 60) % WRAP)
    # blocks 1..3 of 7 were overwritten (ring of 4, three kept); time skips them, not shifts
    assert_equal(s.dropped, (WRAP - 15 + 30) % WRAP)
    assert_equal(s.overruns, 0)          # one overrun after WRAP - 1
    assert_equal(start2, ms0 + 40)
    assert_equal(s.ms, ms0 + 50)
    small_ints(s, "sampler")


def test_full_schedule_queue_is_counted_in_the_hard_irq_and_sampling_goes_on():
    s = EmgSampler(_Counter(), 2, 1000, 10, 8, lambda: 0)
    s.sched_full = WRAP - 2
    seen = []

    def nothing(_arg):
        pass

    def busy(_arg):
        # while a scheduled function runs the queue is not drained: fill it, then the edges
        n = 0
        while True:
            try:
                micropython.schedule(nothing, 0)
            except RuntimeError:
                break
            n += 1
        seen.append(n)
        micropython.heap_lock()
        try:
            for _ in range(5):
                s.drdy_irq(None)         # each: schedule raises, counted, flag stays clear
        finally:
            micropython.heap_unlock()
        seen.append(s._sched)

    micropython.schedule(busy, 0)
    for _ in range(100):                 # the VM runs pending scheduled functions here
        if seen:
            break
    s.drdy_irq(None)                     # the queue has drained: this edge schedules the read
    for _ in range(100):
        if s.irqs:
            break
    assert seen[0] >= 1, seen
    assert_equal(seen[1], False)
    assert_equal(s.sched_full, (WRAP - 2 + 5) % WRAP)
    # the first edge after the queue drained scheduled the read: 6 conversions, 5 held
    assert_equal((s.irqs, s.missed), (1, 5))
    for _ in range(40):                  # and it keeps sampling, one read per edge
        s.drdy_irq(None)
        for _ in range(3):
            pass
    assert_equal((s._edges, s.irqs, s.missed), (46, 41, 5))
    r0, r1 = array("i", [0] * 10), array("i", [0] * 10)
    starts = []
    while True:
        t = s.next_block(r0, r1)
        if t < 0:
            break
        starts.append(t)
    assert_equal(starts, [0, 10, 20, 30])
    small_ints(s, "sampler")


def test_block_time_is_the_sample_count_in_ms_without_the_product():
    # 860 Hz: 100 samples = 116.279 ms; the running counter carries the remainder exactly
    s = EmgSampler(_Counter(), 1, 860, 100, 4, lambda: 0)
    r0 = array("i", [0] * 100)
    for b in range(300):
        for _ in range(100):
            s.irq(None)
        assert_equal(s.next_block(r0), b * 100 * 1000 // 860)
    assert_equal(s.ms, 300 * 100 * 1000 // 860)


class _Det:
    """The detector seam with nothing behind it: records the block times it is fed."""

    def __init__(self):
        self.boot = 0
        self.t = array("i", [0] * 8)
        self.n = 0
        self.lost = 0

    def bind(self, ch, env, lf, rmin, rmax, fast):
        pass

    def set_leadoff(self, mask):
        pass

    def set_status(self, lost, jitter, battery):
        self.lost += lost

    def feed(self, m, t_ms):
        self.t[self.n & 7] = t_ms
        self.n += 1

    def pop_event(self):
        return None

    def pop_summary(self):
        return None

    def flush(self):
        pass


def test_app_block_time_near_2_30_under_heap_lock_and_epoch_over():
    det = _Det()
    app = App(coeffs, _Counter(), 2, None, block_len=100, n_blocks=4, ticks_us=lambda: 0,
              detector_factory=lambda ch: det)
    s = app.sampler
    near_wrap(s)
    s.ms = EPOCH_MS - 250
    app._dropped_seen = s.dropped
    app._missed_seen = s.missed
    for _ in range(100):
        s.drdy_irq(None)
        s.read(0)
    app.process()                        # primes the chains
    assert not app.epoch_over
    for _ in range(4):
        s.drdy_irq(None)
        s.drdy_irq(None)                 # the read of the first edge came late
        s.read(0)
    for _ in range(196):
        s.drdy_irq(None)
        s.read(0)
    micropython.heap_lock()
    try:
        n = app.process()
    finally:
        micropython.heap_unlock()
    assert_equal(n, 2)
    assert_equal((det.t[0], det.t[1], det.t[2]), (EPOCH_MS - 250, EPOCH_MS - 150, EPOCH_MS - 50))
    assert_equal(app.t_ms, EPOCH_MS + 50)
    assert app.epoch_over
    assert_equal(det.lost, 4)            # the held conversions, counted across the wrap
    small_ints(app, "app")
    small_ints(s, "sampler")
