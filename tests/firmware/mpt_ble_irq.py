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
_IRQ_ENCRYPTION_UPDATE = 28
_IRQ_SET_SECRET = 30
_IRQ_PASSKEY_ACTION = 31


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
        self.calls = []
        self.handler_at_active = None
        self.full = False
        self.passkeys = []
        self.disconnects = []

    def config(self, **kw):
        self.calls.append(("config", sorted(kw)))

    def active(self, on=None):
        if on is not None:
            self.calls.append(("active", on))
            self.handler_at_active = self.h is not None
        return True

    def gap_passkey(self, conn, action, passkey):
        self.passkeys.append((conn, action, passkey))

    def gap_disconnect(self, conn):
        self.disconnects.append(conn)
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
        if self.full:
            raise OSError(12)      # ENOMEM: the stack's buffer pool is empty
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


def _connect(ble, conn, enc=(1, 1, 1)):
    ble.h(_IRQ_CENTRAL_CONNECT, (conn, 1, b"\xc2\x5a\x00\x00\x00" + bytes((conn,))))
    ble.h(_IRQ_MTU_EXCHANGED, (conn, 247))
    if enc is not None:       # NimBLE's ints: encrypted, authenticated, bonded
        ble.h(_IRQ_ENCRYPTION_UPDATE, (conn, enc[0], enc[1], enc[2], 16))


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


def test_handler_registered_before_active_and_mtu_after():
    # NimBLE: activation raises the identity-key secret IRQs; config(mtu=) before
    # activation raises ENODEV (mp_bluetooth_set_preferred_mtu)
    ble, per, _ = _setup("order", events=1)
    assert_equal(ble.handler_at_active, True)
    i_active = ble.calls.index(("active", True))
    mtu = [i for i, c in enumerate(ble.calls) if c[0] == "config" and "mtu" in c[1]]
    assert mtu and mtu[0] > i_active, ble.calls


def test_untrusted_links_get_no_notification_and_no_write_is_applied():
    for enc in (None, (1, 0, 1), (1, 1, 0)):     # plain, Just Works, not bonded
        ble, per, hl = _setup("untrusted", events=5)
        _connect(ble, 1, enc)
        acked = hl.acked_seq
        ble.write(per, 1, per.h_racp, P.report_from(1))
        ble.write(per, 1, per.h_racp, P.delete_to(3))
        ble.write(per, 1, per.h_live, b"\x01")
        _drain(per, 20)
        per.push_live([1000] * 10, 10)
        assert_equal((ble.notes, ble.indications, hl.acked_seq), ([], [], acked))
        assert per.untrusted_writes >= 3
        if enc is not None:                       # encrypted but not trusted: link ended
            assert_equal(ble.disconnects, [1])


def test_passkey_only_inside_the_pairing_window():
    ble, per, _ = _setup("passkey", events=1)
    shown = []
    per.show_passkey = shown.append
    per.random_passkey = lambda: 123456
    _connect(ble, 1, None)
    ble.h(_IRQ_PASSKEY_ACTION, (1, 3, 0))
    _drain(per, 2)
    assert_equal((ble.passkeys, shown, ble.disconnects), ([], [], [1]))   # window closed
    per.open_pairing_window(60000)
    _connect(ble, 2, None)
    ble.h(_IRQ_PASSKEY_ACTION, (2, 3, 0))
    _drain(per, 2)
    assert_equal((ble.passkeys, shown), ([(2, 3, 123456)], [123456]))


def test_bonds_stored_only_inside_the_window_and_only_authenticated():
    import simwire as W
    import struct
    ble, per, _ = _setup("setsecret", events=1)
    try:
        os.remove("/tmp/mpt_ble_irq_bonds.bin")
    except OSError:
        pass
    per.bonds = BP.BondStore("/tmp/mpt_ble_irq_bonds.bin")
    key = memoryview(bytes((1, 9, 0, 0, 0x5A, 0xC2, 0)))

    def value(flags):
        return memoryview(struct.pack(W.SEC_VALUE_FMT, bytes(key), 16, 0, 0, b"L" * 16, 1,
                                      b"I" * 16, 1, bytes(16), flags))
    auth = value(W.SEC_FLAG_AUTHENTICATED | W.SEC_FLAG_SC)
    jw = value(W.SEC_FLAG_SC)
    assert_equal(ble.h(_IRQ_SET_SECRET, (2, key, auth)), False)     # window closed
    per.open_pairing_window(60000)
    assert_equal(ble.h(_IRQ_SET_SECRET, (2, key, jw)), False)       # Just Works
    assert_equal(ble.h(_IRQ_SET_SECRET, (2, key, auth)), True)
    assert_equal((per.bonds.count(), per.refused_bonds), (1, 2))
    per._pair_open = False                                        # the window closes
    assert_equal(ble.h(_IRQ_SET_SECRET, (2, key, None)), False)   # no delete from outside
    assert_equal(per.bonds.count(), 1)


def test_after_the_pool_ran_empty_once_reports_leave_buffers_for_the_host():
    # a stack with 6 buffers that all come back while the report pauses
    import time
    ble, per, _ = _setup("backoff", events=60)
    pool = [6]
    bursts = []

    def notify(conn, handle, data=None):
        if pool[0] == 0:
            raise OSError(12)      # ENOMEM: NimBLE's buffer pool is empty
        pool[0] -= 1
        ble.notes.append(bytes(data))
    ble.gatts_notify = notify
    _connect(ble, 1)
    ble.write(per, 1, per.h_racp, P.report_from(1))
    for _ in range(400):
        n = per.poll(16)
        if n:
            bursts.append((n, pool[0]))
        if not per.reporting and ble.indications:
            break
        if per._holding:
            time.sleep_ms(BP.BACKOFF_MS + 1)
            pool[0] = 6            # the controller sent everything meanwhile
    assert_equal(per.full_retries, 1)            # the pool ran empty once, never again
    assert_equal(bursts[0], (6, 0))
    assert all(left >= BP.POOL_RESERVE for _n, left in bursts[1:]), bursts
    assert_equal(ble.indications[-1], bytes((P.OP_RSP, 0, P.OP_REPORT, P.RSP_SUCCESS)))
    assert per.sent_records >= 60
