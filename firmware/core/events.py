"""The detector's output side: EVENT and SUMMARY queues and the per-window summaries.

Events and summaries are handed out as preallocated ``array('i')`` in records.FIELDS
order, from small rings (an event queue of ``queue_len``, a summary queue of 4); a full
queue overwrites its oldest entry and counts it in ``overflow`` (the app must pop every
block). Summaries cover windows of ``window_s``: ticks covered (every bound channel good)
and lost, events counted in the window of their onset. The previous window stays open for
``summary_grace_ms`` after its end and until no event that began in it is still active,
so late-closing events are counted where they began.

Times: the detector passes ticks (10 ms) of its own wrapped clock and a ``clock`` object
whose ``ms(tick)`` gives device ms (wrapping at 2**30, like ``time.ticks_ms``) and
whose ``boot`` is the boot counter. Nothing
here allocates per block.
"""
from array import array

from . import records as R


class Outbox:
    """Queues and window accounting of one detector."""

    def __init__(self, cfg, clock, queue_len=16):
        self.cfg = cfg
        self.clock = clock
        self.version = cfg.version
        self.qn = queue_len
        self.evq = [array("i", bytes(4 * R.EV_N)) for _ in range(queue_len)]
        self.ev_head = 0
        self.ev_count = 0
        self.smq = [array("i", bytes(4 * R.SM_N)) for _ in range(4)]
        self.sm_head = 0
        self.sm_count = 0
        self.overflow = 0
        # two window accumulators: [prev (pending), cur]
        self.win = [array("i", bytes(4 * R.SM_N)), array("i", bytes(4 * R.SM_N))]
        self.wstart = [0, 0]
        self.cur = 0
        self.prev_pending = False
        self.started = False
        self.win_ticks = cfg.window_s * 100
        self.grace_ticks = cfg.summary_grace_ms // 10
        self.dropped = 0
        self.jitter_us = 0
        self.battery_pct = 0xFF

    # -- queues --------------------------------------------------------------------------
    def pop_event(self):
        if self.ev_count == 0:
            return None
        a = self.evq[self.ev_head]
        self.ev_head = (self.ev_head + 1) % self.qn
        self.ev_count -= 1
        return a

    def pop_summary(self):
        if self.sm_count == 0:
            return None
        a = self.smq[self.sm_head]
        self.sm_head = (self.sm_head + 1) & 3
        self.sm_count -= 1
        return a

    def ev_slot(self):
        """The next free event array (the oldest is overwritten and counted if full)."""
        if self.ev_count == self.qn:
            self.overflow += 1
            self.ev_head = (self.ev_head + 1) % self.qn
            self.ev_count -= 1
        a = self.evq[(self.ev_head + self.ev_count) % self.qn]
        self.ev_count += 1
        return a

    def _sm_slot(self):
        if self.sm_count == 4:
            self.overflow += 1
            self.sm_head = (self.sm_head + 1) & 3
            self.sm_count -= 1
        a = self.smq[(self.sm_head + self.sm_count) & 3]
        self.sm_count += 1
        return a

    # -- windows -------------------------------------------------------------------------
    def start(self, tick0):
        """First block: the current window starts at tick0."""
        self.started = True
        self.wstart[0] = tick0 - self.win_ticks
        self.wstart[1] = tick0
        self._clear_win(self.win[1], tick0)
        self.cur = 1

    def rebase(self, step):
        """The detector's clock moved back by ``step`` ticks."""
        self.wstart[0] -= step
        self.wstart[1] -= step

    def window_for(self, onset_tick):
        """The accumulator (array) of the window an event with this onset counts in."""
        if self.prev_pending and onset_tick < self.wstart[self.cur]:
            return self.win[1 - self.cur]
        return self.win[self.cur]

    def count_event(self, onset_tick, kind, dur_ms):
        w = self.window_for(onset_tick)
        ds = dur_ms // 100
        if kind == R.KIND_CLONUS:
            w[R.SM_N_CLONUS] += 1
            w[R.SM_CLONUS_DS] += ds
        else:
            w[R.SM_N_SPASM] += 1
            w[R.SM_SPASM_DS] += ds

    def count_rejected(self, onset_tick):
        # (``self.window_for(t)[i] += 1`` in one expression allocates on MicroPython)
        w = self.window_for(onset_tick)
        w[R.SM_N_MOTION_REJECTED] += 1

    def _clear_win(self, w, start_tick):
        for i in range(R.SM_N):
            w[i] = 0
        w[R.SM_START_MS] = self.clock.ms(start_tick)

    def account(self, tick0, m, lost, any_lost):
        """Add m ticks from tick0 (lost[i] = 1: not covered) to the windows."""
        i = 0
        while i < m:
            cur = self.cur
            end = self.wstart[cur] + self.win_ticks
            n = m - i
            if tick0 + i + n > end:
                n = end - tick0 - i
            if n > 0:
                w = self.win[cur]
                nl = 0
                if any_lost:
                    for j in range(i, i + n):
                        nl += lost[j]
                w[R.SM_COVERED_DS] += n - nl   # ticks for now; converted at emission
                w[R.SM_LOST_DS] += nl
                i += n
            if tick0 + i >= end:
                self._rotate(end)

    def _rotate(self, new_start):
        if self.prev_pending:
            self._emit(1 - self.cur)
        self.cur = 1 - self.cur
        self.prev_pending = True
        self.wstart[self.cur] = new_start
        self._clear_win(self.win[self.cur], new_start)

    def maybe_emit(self, tick, chs, active):
        """Close the previous window once its grace has passed and no event of it is open."""
        if not self.prev_pending:
            return
        prev = 1 - self.cur
        end = self.wstart[prev] + self.win_ticks
        if tick < end + self.grace_ticks:
            return
        for c in chs:
            if c.state == active and c.onset < end:
                return
        self._emit(prev)

    def _emit(self, wi):
        self.prev_pending = False
        w = self.win[wi]
        s = self._sm_slot()
        for i in range(R.SM_N):
            s[i] = w[i]
        s[R.SM_BOOT] = self.clock.boot
        s[R.SM_WINDOW_S] = self.cfg.window_s
        s[R.SM_COVERED_DS] = w[R.SM_COVERED_DS] // 10
        s[R.SM_LOST_DS] = w[R.SM_LOST_DS] // 10
        s[R.SM_DROPPED_SAMPLES] = self.dropped
        s[R.SM_JITTER_US] = self.jitter_us
        s[R.SM_BATTERY_PCT] = self.battery_pct
        s[R.SM_CONFIG_VERSION] = self.version
        self.dropped = 0
        self.jitter_us = 0

    def flush(self, tick):
        """Emit the pending and the current, partial, window (its real length in window_s)."""
        if self.prev_pending:
            self._emit(1 - self.cur)
        if self.started:
            self._emit(self.cur)
            s = self.smq[(self.sm_head + self.sm_count - 1) & 3]
            s[R.SM_WINDOW_S] = (tick - self.wstart[self.cur]) // 100
            self._clear_win(self.win[self.cur], tick)
            self.wstart[self.cur] = tick
