# The BLE peripheral when its IRQs arrive at the worst moment. On the ESP32 (and the sim
# board) BLE events are scheduled callbacks that run between any two bytecodes of the
# main loop, so they can land inside BlePeripheral.poll(). This fake stack delivers them
# synchronously inside its own calls or inside the flash log iteration: the latest and
# earliest points the real ones can reach.
import os

from device import ble_peripheral as BP
from core import racp as P
from core import records as R
from flash_storage import FileFlash
from core.flashlog import FlashLog
from mpunit import assert_equal

_IRQ_CENTRAL_CONNECT = 1
_IRQ_CENTRAL_DISCONNECT = 2
_IRQ_GATTS_WRITE = 3
_IRQ_GATTS_INDICATE_DONE = 20
_IRQ_MTU_EXCHANGED = 21


class FakeUUID:
    def __init__(self, v):
        self.v = v


class FakeBle:
    """Just enough of bluetooth.BLE; records what the peripheral sends."""

    def __init__(self):
        self.h = None
        self.values = {}
        self.notes = []
        self.indications = []
        self.done_inside_indicate = False
        self.on_notify = None

    def config(self, **kw):
        pass

    def active(self, on=None):
        return True

    def irq(self, handler):
        self.h = handler

    def gatts_register_services(self, services):
        out = []
        n = 1
        for _svc, chars in services:
            hs = []
            for _c in chars:
                hs.append(n)
                n += 1
            out.append(tuple(hs))
        return tuple(out)

    def gatts_write(self, handle, data, send_update=False):
        self.values[handle] = bytes(data)

    def gatts_read(self, handle):
        return self.values.get(handle, b"")

    def gatts_set_buffer(self, handle, n, append=False):
        pass

    def gap_advertise(self, interval_us, adv=None, resp_data=None, connectable=True):
        pass

    def gatts_notify(self, conn, handle, data=None):
        if conn is None:
            raise TypeError("conn")
        self.notes.append(bytes(data))
        if self.on_notify is not None:
            self.on_notify(len(self.notes))

    def gatts_indicate(self, conn, handle, data=None):
        if conn is None:
            raise TypeError("conn")
        self.indications.append(bytes(data))
        if self.done_inside_indicate:      # the confirmation beats the call's return
            self.h(_IRQ_GATTS_INDICATE_DONE, (conn, handle, 0))

    # host side
    def write(self, per, conn, handle, value):
        self.values[handle] = bytes(value)
        self.h(_IRQ_GATTS_WRITE, (conn, handle))


class HookedLog:
    """The flash log, with a hook that runs while the report iterates it."""

    def __init__(self, log):
        self.log = log
        self.hook = None

    def __getattr__(self, name):
        return getattr(self.log, name)

    def read_from(self, seq, buf):
        k = 0
        for n in self.log.read_from(seq, buf):
            k += 1
            if self.hook is not None:
                self.hook(k)
            yield n


def _setup(name, events=30):
    path = "/tmp/mpt_ble_irq_%s.bin" % name
    try:
        os.remove(path)
    except OSError:
        pass
    log = FlashLog(FileFlash(path, 4096, 16))
    for i in range(events):
        log.append(R.TYPE_EVENT, [1, 1000 * i, 800, 1, 0, 0, 5000, 2500, 40000, 0, 0, 0,
                                  0xFFFF, 1])
    hl = HookedLog(log)
    ble = FakeBle()
    per = BP.BlePeripheral(ble, hl, lambda: (1, 0), uuid=FakeUUID)
    return ble, per, hl


def _connect(ble, conn):
    ble.h(_IRQ_CENTRAL_CONNECT, (conn, 0, b"\x00" * 6))
    ble.h(_IRQ_MTU_EXCHANGED, (conn, 247))


def _drain(per, n=200):
    for _ in range(n):
        per.poll(16)


def test_indication_confirmed_before_the_call_returns_does_not_block_responses():
    ble, per, _ = _setup("ind", events=3)
    ble.done_inside_indicate = True
    _connect(ble, 1)
    ble.write(per, 1, per.h_racp, P.count_from(1))
    _drain(per, 5)
    ble.write(per, 1, per.h_racp, P.count_from(2))
    _drain(per, 5)
    ble.write(per, 1, per.h_racp, P.report_from(1))
    _drain(per, 20)
    assert_equal([x[0] for x in ble.indications], [P.OP_COUNT_RSP, P.OP_COUNT_RSP, P.OP_RSP])
    assert_equal(ble.indications[-1], bytes((P.OP_RSP, 0, P.OP_REPORT, P.RSP_SUCCESS)))


def test_link_lost_while_the_report_reads_the_log_then_a_new_link_gets_a_clean_report():
    ble, per, hl = _setup("disc", events=30)
    _connect(ble, 1)

    def drop(k):
        if k == 5:
            hl.hook = None
            ble.h(_IRQ_CENTRAL_DISCONNECT, (1, 0, b"\x00" * 6))   # inside the iteration

    hl.hook = drop
    ble.write(per, 1, per.h_racp, P.report_from(1))
    _drain(per, 20)                     # must not raise
    assert_equal(per.reporting, False)
    ble.notes = []
    ble.indications = []
    _connect(ble, 2)
    ble.write(per, 2, per.h_racp, P.report_from(1))
    _drain(per, 50)
    assert_equal(ble.indications, [bytes((P.OP_RSP, 0, P.OP_REPORT, P.RSP_SUCCESS))])
    assert_equal(ble.notes[0][0] & P.HDR_CONT, 0)     # starts at a frame boundary
    assert_equal(per.sent_records >= 30, True)


def test_a_report_asked_on_a_dropped_link_is_not_streamed_to_the_next_host():
    ble, per, _ = _setup("stale", events=5)
    _connect(ble, 1)
    ble.write(per, 1, per.h_racp, P.report_from(1))      # queued, not yet polled
    ble.h(_IRQ_CENTRAL_DISCONNECT, (1, 0, b"\x00" * 6))
    _connect(ble, 2)
    _drain(per, 10)
    assert_equal((ble.notes, ble.indications, per.reporting), ([], [], False))


def test_a_late_disconnect_of_an_old_link_keeps_the_current_one():
    ble, per, _ = _setup("late", events=5)
    _connect(ble, 2)
    ble.h(_IRQ_CENTRAL_DISCONNECT, (1, 0, b"\x00" * 6))   # handle 1 ended long ago
    ble.write(per, 2, per.h_racp, P.report_from(1))
    _drain(per, 20)
    assert_equal(per.conn, 2)
    assert_equal(ble.indications, [bytes((P.OP_RSP, 0, P.OP_REPORT, P.RSP_SUCCESS))])
