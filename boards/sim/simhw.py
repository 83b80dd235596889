"""The virtual board's hardware: a clock, pins, buses and the attached simulated parts.

``machine`` (boards/sim/machine.py) is a thin facade over this module, so the firmware
runs unchanged; tests and the sim-board launcher use this module directly to set up
signal sources, inject faults and advance time.

Time: the simulated parts run on ``clock`` (virtual microseconds). Tests advance it
explicitly with ``advance(us)``: every conversion, DRDY edge and timer tick due in that
span happens in order, and interrupt handlers run at their (virtual) time with the heap
locked, as on the device where an ISR may not allocate. The sim board (``simboot``) runs
``pump()`` as an asyncio task that keeps virtual time equal to wall time.

Interrupt handlers run with ``micropython.heap_lock()``; time spent inside a simulated
part (bus transfers) runs unlocked (the part is not the MCU) and is accounted in
``clock.sim_us`` so an ISR's own cost can be measured without the simulator's.
"""
import json
import time

import micropython

# -- clock -------------------------------------------------------------------------


class Clock:
    """Virtual time in microseconds with a small ordered event queue."""

    def __init__(self):
        self.now_us = 0
        self._events = []  # [t_us, seq, fn, arg], kept sorted
        self._seq = 0
        self.sim_us = 0  # wall-clock µs spent inside simulated parts during ISRs
        self.irq_latency_us = 0  # added to every interrupt delivery (fault/jitter injection)
        self.irq_latency_fn = None  # or a callable(n) -> extra latency for the n-th IRQ
        self.irq_count = 0

    def ticks_us(self):
        return self.now_us & 0x3FFFFFFF

    def ticks_ms(self):
        return (self.now_us // 1000) & 0x3FFFFFFF

    def at(self, t_us, fn, arg=None):
        """Call fn(arg) at virtual time t_us. Returns a handle for cancel()."""
        self._seq += 1
        ev = [t_us, self._seq, fn, arg]
        evs = self._events
        lo, hi = 0, len(evs)
        while lo < hi:
            mid = (lo + hi) // 2
            if evs[mid][0] <= t_us:
                lo = mid + 1
            else:
                hi = mid
        evs.insert(lo, ev)
        return ev

    def cancel(self, ev):
        try:
            self._events.remove(ev)
        except ValueError:
            pass

    def advance(self, dt_us):
        """Run every event due in the next dt_us, then set the clock to now + dt_us."""
        self.run_until(self.now_us + dt_us)

    def run_until(self, t_end):
        evs = self._events
        while evs and evs[0][0] <= t_end:
            ev = evs.pop(0)
            if ev[0] > self.now_us:
                self.now_us = ev[0]
            ev[2](ev[3])
        if t_end > self.now_us:
            self.now_us = t_end


clock = Clock()

# -- interrupts ----------------------------------------------------------------------

STRICT_IRQ = True  # run handlers with the heap locked
irq_errors = []  # exceptions raised by handlers (also re-raised)


def run_irq(handler, arg):
    """Deliver one interrupt: handler(arg) with the heap locked, at now + latency."""
    c = clock
    c.irq_count += 1
    lat = c.irq_latency_us
    if c.irq_latency_fn is not None:
        lat += c.irq_latency_fn(c.irq_count)
    saved = c.now_us
    c.now_us = saved + lat
    if STRICT_IRQ:
        micropython.heap_lock()
    try:
        handler(arg)
    except BaseException as e:  # noqa: BLE001 (recorded and re-raised after unlocking)
        if STRICT_IRQ:
            micropython.heap_unlock()
        irq_errors.append(e)
        c.now_us = saved
        raise
    if STRICT_IRQ:
        micropython.heap_unlock()
    c.now_us = saved


_locked_before = [False]
_depth = [0]
_t0 = [0]
_nest = [0]


def part_enter():
    """Called by a bus before it runs simulator code (may be inside an ISR): unlock the
    heap (the simulated part is not the MCU) and start timing. Re-entrant."""
    _nest[0] += 1
    if _nest[0] > 1:
        return
    # heap_unlock() returns the depth after unlocking; 0 from depth 1 and 0 from an
    # unlocked heap look the same, so probe first.
    _locked_before[0] = _in_isr()
    if _locked_before[0]:
        d = 0
        while micropython.heap_unlock() > 0:
            d += 1
        _depth[0] = d
    _t0[0] = time.ticks_us()


def part_leave():
    _nest[0] -= 1
    if _nest[0] > 0:
        return
    clock.sim_us += time.ticks_diff(time.ticks_us(), _t0[0])
    if _locked_before[0]:
        for _ in range(_depth[0] + 1):
            micropython.heap_lock()


def _in_isr():
    # heap_lock() increments the depth; heap_unlock() returns the depth after unlocking.
    micropython.heap_lock()
    d = micropython.heap_unlock()
    return d > 0


# -- pins ------------------------------------------------------------------------------


class PinState:
    __slots__ = ("num", "value", "mode", "pull", "handler", "trigger", "hard", "obj",
                 "driven", "analog", "watchers")

    def __init__(self, num):
        self.num = num
        self.value = 1  # floating inputs read high in the sim (pull-ups are common)
        self.mode = None
        self.pull = None
        self.handler = None
        self.trigger = 0
        self.hard = False
        self.obj = None  # the machine.Pin passed to the handler
        self.driven = False  # driven by a simulated part (an output of the part)
        self.analog = None  # callable() -> volts for ADC inputs
        self.watchers = []  # parts told when the MCU changes this pin: fn(value)


IRQ_FALLING = 2
IRQ_RISING = 1

pins = {}


def pin(num):
    p = pins.get(num)
    if p is None:
        p = PinState(num)
        pins[num] = p
    return p


def drive(num, value):
    """A simulated part drives pin num; fires the pin's IRQ on a matching edge."""
    p = pin(num)
    old = p.value
    p.value = value
    p.driven = True
    if p.handler is not None and old != value:
        if (value == 0 and p.trigger & IRQ_FALLING) or (value == 1 and p.trigger & IRQ_RISING):
            run_irq(p.handler, p.obj)


def mcu_set(num, value):
    """The firmware drives pin num (an MCU output, e.g. a chip select)."""
    p = pin(num)
    old = p.value
    p.value = value
    if old != value:
        for w in p.watchers:
            w(value)


def watch(num, fn):
    pin(num).watchers.append(fn)


# -- buses -----------------------------------------------------------------------------

spi_devices = {}  # bus id -> list of parts with .cs (pin number), .xfer(b) -> b, .select(bool)
i2c_devices = {}  # bus id -> {addr: part with .read(reg, mv, n), .write(reg, mv, n)}
i2c_faults = {}  # (bus id, addr) -> [remaining count, errno]
i2c_stuck = set()  # bus ids whose bus is held low: every transfer times out


def attach_spi(bus, part):
    spi_devices.setdefault(bus, []).append(part)


def attach_i2c(bus, addr, part):
    i2c_devices.setdefault(bus, {})[addr] = part


def inject_i2c_error(bus, addr, errno_, count=1):
    """The next ``count`` transfers to addr on bus fail with OSError(errno_)."""
    i2c_faults[(bus, addr)] = [count, errno_]


def i2c_fault(bus, addr):
    """errno of an injected/structural fault for a transfer, or 0."""
    if bus in i2c_stuck:
        return 110  # ETIMEDOUT
    f = i2c_faults.get((bus, addr))
    if f is not None and f[0] > 0:
        f[0] -= 1
        return f[1]
    if addr not in i2c_devices.get(bus, {}):
        return 19  # ENODEV: no ACK
    return 0


# -- watchdog, reset ---------------------------------------------------------------------

wdt = {"timeout_ms": 0, "last_feed_us": 0, "expired": False}
reset_cause = [1]  # machine.PWRON_RESET; simboot sets it from the launcher
reset_requests = []  # machine.reset() calls in tests (the launcher exits instead)
exit_on_reset = [False]


def check_wdt():
    if wdt["timeout_ms"] and not wdt["expired"]:
        if clock.now_us - wdt["last_feed_us"] > wdt["timeout_ms"] * 1000:
            wdt["expired"] = True
            return True
    return False


# -- board setup -------------------------------------------------------------------------

board = None  # the board.json dict the parts were attached from
parts = {}  # "emg" / "imu" -> simulator object


def reset_all():
    """Forget every part, pin, fault and event (a fresh power-on)."""
    global board
    clock.__init__()
    pins.clear()
    spi_devices.clear()
    i2c_devices.clear()
    i2c_faults.clear()
    i2c_stuck.clear()
    parts.clear()
    irq_errors.clear()
    reset_requests.clear()
    wdt.update(timeout_ms=0, last_feed_us=0, expired=False)
    board = None


def load_board_json(path):
    with open(path) as f:
        return json.load(f)


def setup(board_def=None, emg_source=None, imu_source=None):
    """Power on the virtual board: attach the parts named in ``board_def`` (a dict in
    the board.json schema, or None for boards/sim/board.json) to its buses and pins,
    fed by the given signal sources (see sources.py; defaults: quiet baseline)."""
    global board
    import sources

    reset_all()
    if board_def is None:
        board_def = load_board_json(_here() + "/board.json")
    board = board_def
    pn = board_def.get("pins", {})
    emg = board_def["emg"]
    imu = board_def.get("imu")
    if emg_source is None:
        emg_source = sources.Baseline(emg.get("channels", 1))
    if imu_source is None:
        imu_source = sources.Still()
    part = emg["part"]
    if part == "ads1292r":
        import ads1292r_sim

        dev = ads1292r_sim.ADS1292RSim(emg_source, cs=pn["emg_cs"], drdy=pn["emg_drdy"],
                                       start=pn.get("emg_start"))
        attach_spi(board_def["buses"]["spi"]["id"], dev)
        parts["emg"] = dev
    elif part == "myoware2":
        import myoware_sim

        dev = myoware_sim.MyoWareSim(emg_source, gain=emg["gain"], supply_v=emg.get("supply_v", 3.3),
                                     band_hz=emg.get("frontend_band_hz", (20.0, 480.0)))
        pin(pn["emg_adc"]).analog = dev.output_v
        parts["emg"] = dev
    else:
        raise ValueError("sim: no simulator for EMG part %r" % part)
    if imu is not None:
        bus = board_def["buses"]["i2c"]["id"]
        if imu["part"] == "mpu6050":
            import mpu6050_sim

            dev = mpu6050_sim.MPU6050Sim(imu_source)
        elif imu["part"] == "lsm6dso":
            import lsm6dso_sim

            dev = lsm6dso_sim.LSM6DSOSim(imu_source)
        else:
            raise ValueError("sim: no simulator for IMU part %r" % imu["part"])
        attach_i2c(bus, imu.get("address", dev.DEFAULT_ADDR), dev)
        parts["imu"] = dev
    return parts


def ensure_setup():
    if board is None:
        setup()


def _here():
    f = __file__
    i = f.rfind("/")
    return f[:i] if i >= 0 else "."


# -- real-time pump (the sim board) ----------------------------------------------------------


async def pump(period_ms=1):
    """Keep virtual time equal to wall time: deliver due conversions/IRQs every period_ms.

    Runs as an asyncio task on the sim board (the unix port has no hardware interrupts).
    Interrupt latency is therefore up to one pump period plus whatever the other tasks
    take, which the sampler's jitter measurement sees, as on a busy device.
    """
    import asyncio

    t0 = time.ticks_us()
    base = clock.now_us
    while True:
        now = base + time.ticks_diff(time.ticks_us(), t0)
        clock.run_until(now)
        if check_wdt():
            import machine

            print("sim: watchdog expired, resetting")
            machine._do_reset(machine.WDT_RESET)
        await asyncio.sleep_ms(period_ms)
