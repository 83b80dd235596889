# mpy-heapsize: 96K
# firmware/device/button.py on the MicroPython unix port with a simulated bouncing pin: interrupts are
# delivered with the heap locked (as on the device), time is a virtual millisecond clock.
import time

import micropython
from core import records as R
from device.button import EDGES, MARK_DOSE_TAKEN, MARK_FELT_SPASM, Button
from mpunit import assert_equal, assert_raises

assert MARK_DOSE_TAKEN == R.MARK_DOSE_TAKEN and MARK_FELT_SPASM == R.MARK_FELT_SPASM


def ticks_diff(a, b):
    """time.ticks_diff of the ESP32 port (ticks wrap at 2**30; the unix port's do not)."""
    return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000


class Clock:
    """Virtual ms: ``now`` counts on (test bookkeeping); ``ticks_ms`` wraps at 2**30 as on the
    ESP32, kept wrapped so the IRQ reads a small int there too (heap locked, 31-bit ints)."""

    def __init__(self, start=0):
        self._now = start
        self._ticks = start & 0x3FFFFFFF

    @property
    def now(self):
        return self._now

    @now.setter
    def now(self, v):
        self._ticks = (self._ticks + (v - self._now)) & 0x3FFFFFFF
        self._now = v

    def ticks_ms(self):
        return self._ticks


class BouncingPin:
    """Pin-like input with a pull-up (reads 1 released, 0 pressed). ``set`` changes the level at
    the clock's current time and fires the IRQ on an edge, with the heap locked."""
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, level=1):
        self.level = level
        self.handler = None
        self.trigger = 0
        self.edges = 0

    def value(self):
        return self.level

    def irq(self, handler=None, trigger=3):
        self.handler = handler
        self.trigger = trigger

    def set(self, level):
        if level == self.level:
            return
        self.level = level
        self.edges += 1
        if self.handler is not None:
            micropython.heap_lock()
            try:
                self.handler(self)
            finally:
                micropython.heap_unlock()


class Rig:
    def __init__(self, start=0, poll_ms=10, level=1, **kw):
        self.clock = Clock(start)
        self.pin = BouncingPin(level)
        self.marks = []
        self.poll_ms = poll_ms
        self.next_poll = start + poll_ms
        self.btn = Button(self.pin, self.on_mark, self.clock.ticks_ms, ticks_diff, **kw)
        self.mark_times = []

    def on_mark(self, kind, t):
        self.marks.append((kind, t))
        self.mark_times.append(self.clock.now)

    def advance(self, ms):
        """Let ms pass in 1 ms steps, polling every poll_ms like the app's task."""
        end = self.clock.now + ms
        while self.clock.now < end:
            self.clock.now += 1
            if self.clock.now >= self.next_poll:
                self.btn.poll()
                self.next_poll += self.poll_ms

    def bounce(self, final, pattern=(1, 2, 1, 3, 2, 1)):
        """Contact bounce: toggle with the given gaps (ms), ending at level `final`."""
        lvl = final
        for gap in pattern:
            self.pin.set(lvl)
            self.advance(gap)
            lvl = 1 - lvl
        self.pin.set(final)

    def press(self, hold_ms, bounce=True):
        t0 = self.clock.now
        if bounce:
            self.bounce(0)
        else:
            self.pin.set(0)
        self.advance(hold_ms - (self.clock.now - t0))
        if bounce:
            self.bounce(1)
        else:
            self.pin.set(1)
        return t0 & 0x3FFFFFFF


def test_short_press_with_bounce_is_one_dose_mark():
    rig = Rig()
    rig.advance(100)
    t0 = rig.press(300)
    rig.advance(100)
    assert rig.pin.edges >= 12, rig.pin.edges            # the pin really bounced
    assert_equal(rig.marks, [(MARK_DOSE_TAKEN, t0)])
    assert not rig.btn.pressed


def test_long_press_is_felt_spasm_reported_at_threshold():
    rig = Rig()
    rig.advance(50)
    t0 = rig.clock.now
    rig.bounce(0)
    rig.advance(1600)                                    # still held
    assert_equal(rig.marks, [(MARK_FELT_SPASM, t0)])
    assert 1500 <= rig.mark_times[0] - t0 <= 1500 + rig.poll_ms, rig.mark_times
    rig.advance(1000)
    rig.bounce(1)
    rig.advance(100)
    assert_equal(len(rig.marks), 1)                      # no second mark at release


def test_long_threshold_is_configurable():
    rig = Rig(long_ms=800)
    rig.advance(20)
    t0 = rig.press(900)
    rig.advance(50)
    t1 = rig.press(700)
    rig.advance(50)
    assert_equal(rig.marks, [(MARK_FELT_SPASM, t0), (MARK_DOSE_TAKEN, t1)])


def test_glitches_and_too_short_presses_are_ignored():
    rig = Rig()
    rig.advance(20)
    rig.pin.set(0)                                       # 3 ms EMI spike
    rig.advance(3)
    rig.pin.set(1)
    rig.advance(100)
    rig.press(30, bounce=False)                          # shorter than min_ms (40)
    rig.advance(100)
    rig.bounce(1, (2, 1, 1, 2))                          # bounce that ends where it started
    rig.advance(100)
    assert_equal(rig.marks, [])
    assert rig.pin.edges >= 6


def test_release_shorter_than_debounce_joins_two_presses():
    rig = Rig()
    rig.advance(20)
    t0 = rig.press(300)
    t1 = rig.press(300)             # pressed again within debounce_ms of the release
    rig.advance(100)
    assert_equal(rig.marks, [(MARK_DOSE_TAKEN, t0)])
    assert t1 > t0


def test_sequence_of_presses():
    rig = Rig()
    rig.advance(10)
    t = [rig.press(200)]
    rig.advance(400)
    t.append(rig.press(120))
    rig.advance(300)
    t.append(rig.press(2000))
    rig.advance(300)
    assert_equal(rig.marks, [(MARK_DOSE_TAKEN, t[0]), (MARK_DOSE_TAKEN, t[1]),
                             (MARK_FELT_SPASM, t[2])])


def test_slow_polling_still_sees_whole_presses_between_polls():
    rig = Rig(poll_ms=250)
    rig.advance(260)                                     # just after a poll
    t0 = rig.press(120)                                  # press and release between two polls
    rig.advance(300)
    assert_equal(rig.marks, [(MARK_DOSE_TAKEN, t0)])
    rig = Rig(poll_ms=2000)
    rig.advance(2010)
    t1 = rig.press(1700)                                 # long press entirely between polls
    rig.advance(2500)
    assert_equal(rig.marks, [(MARK_FELT_SPASM, t1)])


def test_bounce_storm_overruns_the_ring_but_settles_right():
    rig = Rig(poll_ms=200)
    rig.advance(201)
    t0 = rig.clock.now
    rig.bounce(0, (1,) * (EDGES + 9))                    # 41 edges before the next poll
    rig.advance(400)
    rig.bounce(1)
    rig.advance(300)
    assert rig.btn.overruns >= 1, rig.btn.overruns
    assert_equal(len(rig.marks), 1)
    kind, t = rig.marks[0]
    assert_equal(kind, MARK_DOSE_TAKEN)
    assert t >= t0, (t, t0)          # the burst start is approximate after an overrun


def test_ticks_wraparound():
    rig = Rig(start=0x3FFFFFFF - 150)
    rig.advance(10)
    t0 = rig.press(300)                                  # spans the ticks_ms wrap
    rig.advance(100)
    t1 = rig.press(1600)
    rig.advance(100)
    assert_equal(rig.marks, [(MARK_DOSE_TAKEN, t0), (MARK_FELT_SPASM, t1)])


def test_button_held_at_boot_is_not_a_press():
    rig = Rig(level=0)
    rig.advance(3000)
    rig.bounce(1)
    rig.advance(100)
    assert_equal(rig.marks, [])
    t0 = rig.press(200)
    rig.advance(100)
    assert_equal(rig.marks, [(MARK_DOSE_TAKEN, t0)])


def test_active_high_button():
    rig = Rig(level=0, active_low=False)
    rig.advance(10)
    t0 = rig.clock.now
    rig.bounce(1)
    rig.advance(200)
    rig.bounce(0)
    rig.advance(100)
    assert_equal(rig.marks, [(MARK_DOSE_TAKEN, t0)])


def test_irq_really_runs_with_heap_locked():
    pin = BouncingPin()
    got = []
    pin.irq(lambda p: got.append([p.level]))             # allocates: must fail under the lock
    assert_raises(MemoryError, pin.set, 0)


def test_bad_timing_config():
    e = assert_raises(ValueError, Button, BouncingPin(), None, Clock().ticks_ms, ticks_diff,
                      long_ms=30)
    assert "min_ms (40) < long_ms (30)" in str(e), str(e)


def test_run_task_wakes_on_flag_and_reports():
    # real asyncio on the unix port: the IRQ sets a ThreadSafeFlag, run() wakes and polls.
    # Timing margins are wide (a 300 ms press against a 1500 ms long threshold).
    import asyncio
    pin = BouncingPin()
    marks = []
    flag = asyncio.ThreadSafeFlag()
    btn = Button(pin, lambda k, t: marks.append(k), time.ticks_ms, time.ticks_diff, flag=flag)

    async def patient():
        await asyncio.sleep_ms(50)
        assert btn.idle()
        for lvl in (0, 1, 0, 1, 0):
            pin.set(lvl)
            await asyncio.sleep_ms(1)
        await asyncio.sleep_ms(300)
        assert btn.pressed
        pin.set(1)
        await asyncio.sleep_ms(150)

    async def main():
        task = asyncio.create_task(btn.run())
        await patient()
        task.cancel()

    asyncio.run(main())
    assert_equal(marks, [MARK_DOSE_TAKEN])


def test_very_long_hold_opens_pairing_and_logs_no_mark():
    opened = []
    rig = Rig(pair_ms=8000, on_pair=lambda: opened.append(rig.clock.now))
    rig.advance(50)
    t0 = rig.clock.now
    rig.bounce(0)
    rig.advance(8100)                                    # held past pair_ms
    assert_equal(len(opened), 1)
    assert 8000 <= opened[0] - t0 <= 8000 + rig.poll_ms, opened
    rig.bounce(1)
    rig.advance(100)
    assert_equal((rig.marks, rig.btn.pairs), ([], 1))   # no felt-spasm mark for it
    t1 = rig.press(2000)                                 # a felt spasm: reported at release
    rig.advance(100)
    assert_equal(rig.marks, [(MARK_FELT_SPASM, t1)])
    t2 = rig.press(300)
    rig.advance(100)
    assert_equal(rig.marks[-1], (MARK_DOSE_TAKEN, t2))
