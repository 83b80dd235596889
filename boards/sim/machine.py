"""``machine`` for the virtual board (MicroPython unix port).

The same API subset as the ESP32 port's ``machine``, so the firmware runs unchanged:
Pin (with irq), SPI, I2C/SoftI2C, ADC, Timer, WDT, reset, reset_cause, unique_id, freq,
idle, disable_irq/enable_irq. Buses and pins dispatch to the register-level simulators
attached by ``simhw.setup`` (done on first use from boards/sim/board.json when a test or
the sim-board launcher has not done it).

Bus errors behave like the ESP32 port: a NACKed address raises OSError(ENODEV), a hung
bus OSError(ETIMEDOUT); ``simhw.inject_i2c_error`` injects either.
"""
import sys

import simhw

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

_UID = b"\x24\x0a\xc4\x5e\x1a\x77"  # an ESP32-like MAC, fixed


def reset_cause():
    return simhw.reset_cause[0]


def unique_id():
    return _UID


def freq(hz=None):
    return 240000000


def idle():
    pass


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


def _do_reset(cause):
    simhw.reset_requests.append(cause)
    if simhw.exit_on_reset[0]:
        try:
            with open(".reset_cause", "w") as f:
                f.write(str(cause))
        except OSError:
            pass
        sys.exit(100 + cause)
    raise SystemExit("machine.reset (cause %d)" % cause)


def reset():
    _do_reset(SOFT_RESET)


def soft_reset():
    _do_reset(SOFT_RESET)


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        simhw.ensure_setup()
        self.id = id
        self._st = simhw.pin(id)
        self.init(mode, pull, value)

    def init(self, mode=-1, pull=-1, value=None):
        st = self._st
        if mode != -1:
            st.mode = mode
        if pull != -1:
            st.pull = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        st = self._st
        if v is None:
            return st.value
        if st.mode == 3 or st.mode == 7:  # OUT, OPEN_DRAIN
            simhw.part_enter()
            simhw.mcu_set(self.id, 1 if v else 0)
            simhw.part_leave()
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3, hard=False):
        st = self._st
        st.handler = handler
        st.trigger = trigger
        st.hard = hard
        st.obj = self
        return None

    def __repr__(self):
        return "Pin(%d)" % self.id


class SPI:
    MSB = 0
    LSB = 1

    def __init__(self, id, baudrate=1000000, polarity=0, phase=0, bits=8, firstbit=0,
                 sck=None, mosi=None, miso=None):
        simhw.ensure_setup()
        self.id = id
        self.init(baudrate, polarity, phase)

    def init(self, baudrate=1000000, polarity=0, phase=0, **kw):
        self.baudrate = baudrate
        self.mode = (polarity, phase)

    def deinit(self):
        pass

    def _byte(self, b):
        out = 0xFF  # MISO idles high with nothing selected
        for dev in simhw.spi_devices.get(self.id, ()):
            if simhw.pins[dev.cs].value == 0:
                o = dev.xfer(b)
                if self.mode != (0, 1):
                    o = ((o << 1) | 1) & 0xFF  # sampled on the wrong edge: off by one bit
                out = o
        return out

    def write(self, buf):
        simhw.part_enter()
        for b in buf:
            self._byte(b)
        simhw.part_leave()

    def readinto(self, buf, write=0):
        simhw.part_enter()
        for i in range(len(buf)):
            buf[i] = self._byte(write)
        simhw.part_leave()

    def read(self, n, write=0):
        buf = bytearray(n)
        self.readinto(buf, write)
        return bytes(buf)

    def write_readinto(self, wbuf, rbuf):
        simhw.part_enter()
        for i in range(len(wbuf)):
            rbuf[i] = self._byte(wbuf[i])
        simhw.part_leave()


class I2C:
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        simhw.ensure_setup()
        self.id = id
        self.freq = freq

    def _dev(self, addr):
        e = simhw.i2c_fault(self.id, addr)
        if e:
            raise OSError(e)
        return simhw.i2c_devices[self.id][addr]

    def scan(self):
        return sorted(simhw.i2c_devices.get(self.id, {}))

    def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
        simhw.part_enter()
        try:
            self._dev(addr).read(memaddr, buf, len(buf))
        finally:
            simhw.part_leave()

    def readfrom_mem(self, addr, memaddr, nbytes, addrsize=8):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf, addrsize=8):
        simhw.part_enter()
        try:
            self._dev(addr).write(memaddr, buf, len(buf))
        finally:
            simhw.part_leave()

    def writeto(self, addr, buf, stop=True):
        self._dev(addr)
        return len(buf)

    def readfrom_into(self, addr, buf, stop=True):
        self._dev(addr)


SoftI2C = I2C


class ADC:
    """ESP32-class SAR ADC: 12 bits; 11 dB attenuation spans about 0-3.1 V."""

    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    _SPAN_V = (0.95, 1.25, 1.75, 3.1)

    def __init__(self, pin, atten=3):
        simhw.ensure_setup()
        self.pin = pin if isinstance(pin, Pin) else Pin(pin)
        self.atten = atten

    def _volts(self):
        f = self.pin._st.analog
        v = f() if f is not None else 0.0
        span = self._SPAN_V[self.atten]
        return 0.0 if v < 0 else span if v > span else v

    def read_u16(self):
        simhw.part_enter()
        code = int(self._volts() / self._SPAN_V[self.atten] * 4095 + 0.5)
        simhw.part_leave()
        return (code << 4) | (code >> 8)

    def read_uv(self):
        simhw.part_enter()
        v = int(self._volts() * 1e6)
        simhw.part_leave()
        return v

    def read(self):
        return self.read_u16() >> 4


class Timer:
    ONE_SHOT = 0
    PERIODIC = 1

    def __init__(self, id=-1, **kw):
        simhw.ensure_setup()
        self.id = id
        self._ev = None
        if kw:
            self.init(**kw)

    def init(self, mode=1, freq=None, period=None, callback=None):
        self.deinit()
        self.period_us = 1000000 // freq if freq else period * 1000
        self.mode = mode
        self.callback = callback
        self.next_us = simhw.clock.now_us + self.period_us
        self._ev = simhw.clock.at(self.next_us, self._fire)

    def _fire(self, _):
        if self.mode == Timer.PERIODIC:
            self.next_us += self.period_us
            self._ev = simhw.clock.at(self.next_us, self._fire)
        else:
            self._ev = None
        if self.callback is not None:
            simhw.run_irq(self.callback, self)

    def deinit(self):
        if self._ev is not None:
            simhw.clock.cancel(self._ev)
            self._ev = None


class WDT:
    def __init__(self, id=0, timeout=5000):
        simhw.wdt["timeout_ms"] = timeout
        simhw.wdt["last_feed_us"] = simhw.clock.now_us
        simhw.wdt["expired"] = False

    def feed(self):
        simhw.wdt["last_feed_us"] = simhw.clock.now_us


def board_tasks():
    """Sim-board only: coroutines the runtime must run beside its own tasks (the clock
    pump that delivers the simulated parts' conversions and interrupts in real time).
    The ESP32 port's machine has no such function; the runtime checks with getattr."""
    return [simhw.pump()]
