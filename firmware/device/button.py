"""Debounced patient button: a short press marks a dose taken, a long press a felt spasm,
and (when ``pair_ms`` is given) a very long hold opens the BLE pairing window.

``Button(pin, on_mark, ticks_ms, ticks_diff, long_ms=1500, debounce_ms=25, min_ms=40,
active_low=True, flag=None, pair_ms=None, on_pair=None)``

- ``pin``: a machine.Pin-like input (``value()``, ``irq(handler=, trigger=)``,
  ``IRQ_FALLING``/``IRQ_RISING``), injected; the button pulls it to ground when
  ``active_low`` (internal or external pull-up).
- ``on_mark(kind, t_ms)``: called from ``poll()`` (task context, never from the IRQ) with
  ``kind`` = records.MARK_DOSE_TAKEN or records.MARK_FELT_SPASM and ``t_ms`` = the ticks_ms of
  the start of the press (first edge of its bounce burst). The app converts it to device
  time (boot, ms from the sample count) for the MARK record.
- ``ticks_ms()`` / ``ticks_diff(a, b)``: the time source (time.ticks_ms / time.ticks_diff on the
  device, the virtual clock in tests), milliseconds, wrapping like MicroPython ticks.
- ``flag``: optional asyncio.ThreadSafeFlag set by the IRQ to wake ``run()``.
- ``pair_ms`` / ``on_pair()``: a hold of ``pair_ms`` (e.g. 8000) calls ``on_pair()`` (from
  ``poll()``) as soon as it is reached, and logs no mark; a felt spasm is then reported at
  release (a hold between ``long_ms`` and ``pair_ms``), still stamped with the press start.

Interrupt handler: stores (ticks, pin level) of every edge into a preallocated ring of
``EDGES`` slots and bumps a counter: no allocation, no calls besides ticks_ms and pin.value.
``poll(now=None)`` (from the app's task, any period up to a few hundred ms) replays the edges:
a level counts once it has held for ``debounce_ms`` without another edge; a press shorter than
``min_ms`` is a glitch. Release before ``long_ms`` -> dose taken; held for ``long_ms`` -> felt
spasm, reported as soon as the hold reaches ``long_ms`` (not at release). If more than
``EDGES`` edges arrive between polls the oldest are dropped and ``overruns`` counts it.
"""
from array import array

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

MARK_DOSE_TAKEN = const(1)     # == records.MARK_DOSE_TAKEN
MARK_FELT_SPASM = const(2)     # == records.MARK_FELT_SPASM
EDGES = const(32)              # ring size (power of two)
_MASK = const(31)
_CMASK = const(0x3FFFFFFF)     # counters stay small ints on the ESP32


class Button:
    def __init__(self, pin, on_mark, ticks_ms, ticks_diff, long_ms=1500, debounce_ms=25,
                 min_ms=40, active_low=True, flag=None, pair_ms=None, on_pair=None):
        if not 0 < debounce_ms < min_ms < long_ms:
            raise ValueError("button timing must satisfy 0 < debounce_ms (%d) < min_ms (%d) "
                             "< long_ms (%d)" % (debounce_ms, min_ms, long_ms))
        if pair_ms is not None and (pair_ms <= long_ms or on_pair is None):
            raise ValueError("pair_ms (%r) must exceed long_ms (%d) and come with on_pair"
                             % (pair_ms, long_ms))
        self.pair_ms = pair_ms
        self._on_pair = on_pair
        self.pairs = 0
        self._pin = pin
        self._on_mark = on_mark
        self._ticks = ticks_ms
        self._diff = ticks_diff
        self.long_ms = long_ms
        self.debounce_ms = debounce_ms
        self.min_ms = min_ms
        self._active = 0 if active_low else 1
        self._flag = flag
        # IRQ-written state, all preallocated
        self._et = array("i", [0] * EDGES)   # edge ticks
        self._el = bytearray(EDGES)          # pin level read at the edge
        self._w = array("i", [0])            # edges written (mod 2^30)
        # task-side state
        self._r = 0                          # edges consumed
        self._have_burst = False
        self._burst_t = 0                    # first edge of the current burst
        self._last_t = 0                     # last edge seen
        self._last_lvl = 0
        self._pressed = pin.value() == self._active
        self._press_t = ticks_ms()
        self._long_done = self._pressed      # a button held at boot is not a press
        self.overruns = 0
        self.marks = 0
        self._irq_ref = self._irq            # bound once: the IRQ must not allocate
        pin.irq(handler=self._irq_ref, trigger=pin.IRQ_FALLING | pin.IRQ_RISING)

    def _irq(self, pin):
        w = self._w
        i = w[0] & _MASK
        self._et[i] = self._ticks()
        self._el[i] = pin.value()
        w[0] = (w[0] + 1) & _CMASK
        if self._flag is not None:
            self._flag.set()

    @property
    def pressed(self):
        """Debounced state (True while the button is held)."""
        return self._pressed

    def idle(self):
        """No edge waiting to be debounced and the button is released."""
        return not self._have_burst and self._w[0] == self._r and not self._pressed

    def poll(self, now=None):
        """Process the edges recorded since the last poll; call on_mark for completed
        presses. ``now``: ticks_ms (default: read the time source)."""
        diff = self._diff
        if now is None:
            now = self._ticks()
        w = self._w[0]
        n = (w - self._r) & _CMASK
        if n > EDGES:
            self.overruns += 1
            self._r = (w - EDGES) & _CMASK
            n = EDGES
        for k in range(n):
            i = (self._r + k) & _MASK
            t = self._et[i]
            if self._have_burst and diff(t, self._last_t) >= self.debounce_ms:
                self._commit(self._last_lvl, self._burst_t)
                self._have_burst = False
            if not self._have_burst:
                self._have_burst = True
                self._burst_t = t
            self._last_t = t
            self._last_lvl = self._el[i]
        self._r = w
        if self._have_burst and diff(now, self._last_t) >= self.debounce_ms:
            # quiet long enough: the pin's level now is the settled level
            lvl = self._pin.value()
            if (self._w[0] - w) & _CMASK == 0:        # no edge arrived meanwhile
                self._commit(lvl, self._burst_t)
                self._have_burst = False
        if self._pressed and not self._long_done:
            held = diff(now, self._press_t)
            if self.pair_ms is not None:
                if held >= self.pair_ms:               # the pairing gesture: no mark
                    self._long_done = True
                    self.pairs += 1
                    self._on_pair()
            elif held >= self.long_ms:
                self._long_done = True
                self._emit(MARK_FELT_SPASM)

    def _commit(self, lvl, t):
        pressed = lvl == self._active
        if pressed == self._pressed:
            return                                    # a glitch: back to the same level
        self._pressed = pressed
        if pressed:
            self._press_t = t
            self._long_done = False
            return
        if self._long_done:
            return                                    # long press already reported
        held = self._diff(t, self._press_t)
        self._long_done = True
        if held >= self.long_ms:
            self._emit(MARK_FELT_SPASM)
        elif held >= self.min_ms:
            self._emit(MARK_DOSE_TAKEN)

    def _emit(self, kind):
        self.marks += 1
        self._on_mark(kind, self._press_t)

    async def run(self, period_ms=None):
        """Task: poll every ``period_ms`` (default debounce_ms) while something is going on;
        with a ``flag``, sleep on it while idle."""
        import asyncio
        period = period_ms or self.debounce_ms
        while True:
            if self._flag is not None and self.idle():
                await self._flag.wait()
            await asyncio.sleep_ms(period)
            self.poll()
