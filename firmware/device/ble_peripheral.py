"""BLE GATT peripheral: records sync, clock, status, config and live stream (device module).

``BlePeripheral(ble, log, clock, ...)`` receives the radio (a ``bluetooth.BLE()``), the
flash log (``flashlog.FlashLog``) and ``clock() -> (boot, ms)`` (device time); it imports
nothing hardware-specific itself. Protocol and UUIDs: ``racp.py``.

Services: Device Information (0x180A), Battery (0x180F), Current Time (0x1805, writable:
a host write appends a TIME_ANCHOR record) and the spasmtrack service (records notify,
RACP-style control point with indicated responses, live envelope, status, config).
Everything except Device Information and Battery needs an encrypted link (LE Secure
Connections, bonded): the characteristics carry the stack's ``*_ENCRYPTED`` flags, so an
unencrypted read, write or subscription is refused by the stack with an ATT error. Bond
keys are kept by :class:`BondStore` in a file on the flash (``_IRQ_GET/SET_SECRET``).

IRQ handlers only copy the written bytes into preallocated buffers and set flags;
:meth:`poll` (called from the main loop or the :meth:`run` task) does the work. BLE IRQs
are scheduled callbacks: they run between any two bytecodes of the main loop, in the
middle of :meth:`poll`. So each piece of state has ONE writer: the command queue is a
single-producer ring (the IRQ moves only ``_q_tail``, poll only ``_q_head``), connection
changes only bump ``_gen`` and poll resets its report/response state when it sees a new
generation, and the indication-busy flag is set before the stack is asked to indicate. A report
streams frames from ``log.read_from`` packed into MTU-sized notifications; when the stack's
transmit queue is full (``OSError`` from ``gatts_notify``) the notification is kept and
retried on the next poll, so nothing is dropped; records stay in the log until the host's
DELETE (ack) after it has committed them.
"""
import struct
from micropython import const

from core import racp as P
from core import records as R

_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_INDICATE = const(0x0020)
_F_READ_ENC = const(0x0200)
_F_WRITE_ENC = const(0x1000)

_IO_NO_INPUT_OUTPUT = const(3)
_MAX_MTU = const(247)
_MAX_PAYLOAD = const(_MAX_MTU - 3)
_CMD_MAX = const(20)
_CMD_SLOTS = const(4)
_CONFIG_MAX = const(64)
_ADV_INTERVAL_US = const(250000)
_LIVE_MAX = const(60)
_SEQ_MASK = const(0x3FFFFFFF)   # ring and generation counters (a multiple of _CMD_SLOTS)


class BondStore:
    """Bond secrets (sec_type, key) -> value, persisted in one small binary file."""

    def __init__(self, path):
        self.path = path
        self.items = []
        try:
            with open(path, "rb") as f:
                data = f.read()
            p = 0
            while p + 4 <= len(data):
                t, kl, vl = struct.unpack_from("<BBH", data, p)
                p += 4
                self.items.append((t, bytes(data[p:p + kl]), bytes(data[p + kl:p + kl + vl])))
                p += kl + vl
        except OSError:
            pass

    def _save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            for t, k, v in self.items:
                f.write(struct.pack("<BBH", t, len(k), len(v)))
                f.write(k)
                f.write(v)
        import os
        os.rename(tmp, self.path)

    def get(self, sec_type, index, key):
        if key is None:
            i = 0
            for t, _k, v in self.items:
                if t == sec_type:
                    if i == index:
                        return v
                    i += 1
            return None
        key = bytes(key)
        for t, k, v in self.items:
            if t == sec_type and k == key:
                return v
        return None

    def set(self, sec_type, key, value):
        key = bytes(key)
        self.items = [x for x in self.items if not (x[0] == sec_type and x[1] == key)]
        if value is not None:
            self.items.append((sec_type, key, bytes(value)))
        self._save()
        return True


class BlePeripheral:
    def __init__(self, ble, log, clock, name="spasmtrack", bonds=None, status=None,
                 config_read=None, config_write=None, fw_version="0.0", model="sim",
                 uuid=None):
        """``status() -> (battery_pct, dropped_samples, coverage_pm, config_version)``;
        ``config_read() -> bytes``; ``config_write(bytes) -> bool``; ``bonds``: BondStore."""
        if uuid is None:
            from bluetooth import UUID as uuid  # noqa: N813 - only the UUID type
        self.ble = ble
        self.log = log
        self.clock = clock
        self.name = name
        self.bonds = bonds
        self.status_fn = status
        self.config_read = config_read
        self.config_write = config_write
        self.conn = None
        self.mtu = 23
        self.encrypted = False
        self.bonded = False
        # report state
        self.reporting = False
        self._it = None
        self._counter = 0
        self._nbuf = bytearray(_MAX_PAYLOAD)
        self._nmv = memoryview(self._nbuf)
        self._nlen = 0
        self._fbuf = bytearray(R.MAX_FRAME)
        self._fmv = memoryview(self._fbuf)
        self._flen = 0
        self._foff = 0
        self.sent_notifications = 0
        self.sent_records = 0
        self.full_retries = 0
        # control point, clock and config writes (copied in IRQ, handled in poll)
        self._q = [bytearray(_CMD_MAX) for _ in range(_CMD_SLOTS)]
        self._q_len = [0] * _CMD_SLOTS
        self._q_gen = [0] * _CMD_SLOTS   # connection generation each command came on
        self._gen = 0                    # bumped on every connect and disconnect (IRQ)
        self._seen_gen = 0               # the generation poll has reset its state for
        self._q_head = 0                 # written by poll only
        self._q_tail = 0                 # written by the IRQ only
        self.cmd_overflows = 0
        self._cts = bytearray(P.CTS_LEN)
        self._cts_len = -1
        self._tz = 0
        self._cfg_pending = False
        self._rsp = bytearray(8)
        self._rsp_len = 0
        self._ind_busy = False
        self._live_on = False
        self._live = bytearray(1 + 2 * _LIVE_MAX)
        self._live_counter = 0
        self._anchor = [0, 0, 0, 0, R.SOURCE_HOST_CTS]
        self.time_set_count = 0
        self._register(uuid)

    # ------------------------------------------------------------------ setup
    def _register(self, U):
        ble = self.ble
        ble.config(gap_name=self.name, mtu=_MAX_MTU, bond=True, le_secure=True, mitm=False,
                   io=_IO_NO_INPUT_OUTPUT)
        ble.active(True)
        ble.irq(self._irq)
        enc_r = _F_READ | _F_READ_ENC
        dis = (U(P.DIS_UUID16), ((U(P.MANUFACTURER_UUID16), _F_READ),
                                 (U(P.MODEL_UUID16), _F_READ),
                                 (U(P.FIRMWARE_REV_UUID16), _F_READ)))
        bas = (U(P.BAS_UUID16), ((U(P.BATTERY_LEVEL_UUID16), _F_READ | _F_NOTIFY),))
        cts = (U(P.CTS_UUID16), ((U(P.CURRENT_TIME_UUID16), enc_r | _F_NOTIFY | _F_WRITE | _F_WRITE_ENC),
                                 (U(P.LOCAL_TIME_UUID16), enc_r | _F_WRITE | _F_WRITE_ENC)))
        st = (U(P.SERVICE_UUID), ((U(P.RECORDS_UUID), _F_NOTIFY | _F_READ_ENC),
                                  (U(P.RACP_UUID), _F_WRITE | _F_WRITE_ENC | _F_INDICATE | _F_READ_ENC),
                                  (U(P.LIVE_UUID), _F_NOTIFY | _F_WRITE | _F_WRITE_ENC | _F_READ_ENC),
                                  (U(P.STATUS_UUID), enc_r | _F_NOTIFY),
                                  (U(P.CONFIG_UUID), enc_r | _F_WRITE | _F_WRITE_ENC)))
        ((self.h_manuf, self.h_model, self.h_fw), (self.h_batt,), (self.h_time, self.h_ltime),
         (self.h_rec, self.h_racp, self.h_live, self.h_status, self.h_cfg)) = \
            ble.gatts_register_services((dis, bas, cts, st))
        ble.gatts_write(self.h_manuf, b"spasmtrack")
        ble.gatts_write(self.h_model, self.model_name())
        ble.gatts_write(self.h_fw, self.fw_name())
        ble.gatts_set_buffer(self.h_cfg, _CONFIG_MAX)
        if self.config_read is not None:
            ble.gatts_write(self.h_cfg, self.config_read())
        self.refresh_status()
        self.advertise()

    def model_name(self):
        return b"spasmtrack"

    def fw_name(self):
        try:
            from core import fwinfo
            return ("%d.%d" % (fwinfo.FW_VERSION_MAJOR, fwinfo.FW_VERSION_MINOR)).encode()
        except ImportError:
            return b"0.0"

    def advertise(self):
        n = self.name.encode()[:29]
        adv = bytes((2, 1, 6)) + bytes((len(n) + 1, 9)) + n
        u = bytes(reversed(bytes.fromhex(P.SERVICE_UUID.replace("-", ""))))
        resp = bytes((17, 7)) + u
        self.ble.gap_advertise(_ADV_INTERVAL_US, adv, resp_data=resp)

    # ------------------------------------------------------------------ IRQ (copy + flag)
    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE:
            conn, h = data
            if h == self.h_racp:
                v = self.ble.gatts_read(h)
                n = len(v)
                if n > _CMD_MAX:
                    n = _CMD_MAX
                t = self._q_tail
                if ((t - self._q_head) & _SEQ_MASK) < _CMD_SLOTS:  # queued in order (a host
                    i = t % _CMD_SLOTS            # may write the next before a response)
                    self._q[i][:n] = v[:n]
                    self._q_len[i] = n
                    self._q_gen[i] = self._gen
                    self._q_tail = (t + 1) & _SEQ_MASK     # publish last
                else:
                    self.cmd_overflows += 1
            elif h == self.h_time:
                v = self.ble.gatts_read(h)
                n = len(v)
                if n > P.CTS_LEN:
                    n = 0  # too long: malformed, answered by ignoring it (counted)
                self._cts[:n] = v[:n]
                self._cts_len = n
            elif h == self.h_ltime:
                v = self.ble.gatts_read(h)
                if len(v) >= 1:
                    t = v[0]
                    self._tz = t - 256 if t > 127 else t
            elif h == self.h_live:
                v = self.ble.gatts_read(h)
                self._live_on = len(v) == 1 and v[0] == 1
            elif h == self.h_cfg:
                self._cfg_pending = True
        elif event == _IRQ_GATTS_INDICATE_DONE:
            self._ind_busy = False
        elif event == _IRQ_CENTRAL_CONNECT:
            self.conn = data[0]
            self._gen = (self._gen + 1) & _SEQ_MASK    # poll resets report and response
            self.mtu = 23
            self.encrypted = False
            self.bonded = False
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] != self.conn:
                return None      # a late event for a link already replaced: not this one
            self.conn = None
            self._gen = (self._gen + 1) & _SEQ_MASK
            self.encrypted = False
            self._live_on = False
            # queued commands stay: an acknowledgement still counts without the link,
            # the others are answered to nobody
            self.advertise()
        elif event == _IRQ_MTU_EXCHANGED:
            self.mtu = data[1] if data[1] <= _MAX_MTU else _MAX_MTU
        elif event == _IRQ_ENCRYPTION_UPDATE:
            self.encrypted = bool(data[1])
            self.bonded = bool(data[3])
        elif event == _IRQ_GET_SECRET:
            if self.bonds is None:
                return None
            return self.bonds.get(data[0], data[1], data[2])
        elif event == _IRQ_SET_SECRET:
            if self.bonds is None:
                return False
            return self.bonds.set(data[0], data[1], data[2])
        return None

    # ------------------------------------------------------------------ main-loop work
    def poll(self, budget=8):
        """Do pending work; returns the number of notifications sent (0 when idle)."""
        g = self._gen
        if g != self._seen_gen:    # the link changed: what was under way is for nobody
            self._seen_gen = g
            self._stop_report()
            self._rsp_len = 0
            self._ind_busy = False
        if self._cts_len >= 0:
            self._set_time()   # before commands: a report asked right after sees the anchor
        while self._q_tail != self._q_head and self._rsp_len == 0:
            self._command()  # one response slot: a command waits until it is free
        if self._cfg_pending:
            self._cfg_pending = False
            if self.config_write is not None:
                ok = self.config_write(bytes(self.ble.gatts_read(self.h_cfg)))
                if not ok and self.config_read is not None:
                    self.ble.gatts_write(self.h_cfg, self.config_read())
        if self._rsp_len and not self._ind_busy and self.conn is not None:
            self._indicate()
        sent = 0
        while self.reporting and sent < budget and self.conn is not None:
            if self._nlen == 0 and not self._fill():
                if self._rsp_len == 0:
                    self._finish_report()  # else: after the pending response is indicated
                break
            try:
                self.ble.gatts_notify(self.conn, self.h_rec, self._nmv[:self._nlen])
            except (OSError, TypeError):   # TypeError: the link went (conn None) just now
                self.full_retries += 1  # stack queue full: keep it, retry on the next poll
                break
            self._nlen = 0
            sent += 1
            self.sent_notifications += 1
        return sent

    async def run(self, period_ms=5):
        import asyncio
        while True:
            if self.poll() == 0:
                await asyncio.sleep_ms(period_ms)
            else:
                await asyncio.sleep_ms(0)

    # ------------------------------------------------------------------ control point
    def _command(self):
        h = self._q_head
        i = h % _CMD_SLOTS
        n = self._q_len[i]
        cmd = self._q[i]
        gen = self._q_gen[i]
        try:
            op, seq = P.parse(memoryview(cmd)[:n])
        except ValueError as e:
            self._q_head = (h + 1) & _SEQ_MASK   # the slot is free again
            self._respond(e.args[1], e.args[0])
            return
        self._q_head = (h + 1) & _SEQ_MASK
        if (self.conn is None or gen != self._gen) and op != P.OP_DELETE:
            return  # written on a link that dropped since: nobody to answer (a report
            # asked by a previous host must not start streaming to the next one)
        if op == P.OP_ABORT:
            if self.reporting:
                self._stop_report()
            self._respond(op, P.RSP_SUCCESS)
            return
        log = self.log
        if self.reporting and op != P.OP_DELETE:
            self._respond(op, P.RSP_BUSY)
            return
        if op == P.OP_COUNT:
            first = log.first_seq
            lo = seq if seq > first else first
            cnt = log.last_seq - lo + 1 if log.last_seq >= lo and first else 0
            self._rsp[0] = P.OP_COUNT_RSP
            self._rsp[1] = 0
            struct.pack_into("<I", self._rsp, 2, cnt)
            self._rsp_len = 6
        elif op == P.OP_DELETE:
            if seq > log.last_seq:
                self._respond(op, P.RSP_INVALID_OPERAND)
                return
            log.ack(seq)
            self.refresh_status()
            self._respond(op, P.RSP_SUCCESS)
        else:  # OP_REPORT
            if seq > log.last_seq:
                self._respond(op, P.RSP_NO_RECORDS)
                return
            self._it = log.read_from(seq, self._fbuf)
            self._flen = 0
            self._foff = 0
            self._nlen = 0
            self.reporting = True

    def _respond(self, op, code):
        if self.conn is None:
            return
        r = self._rsp
        r[0] = P.OP_RSP
        r[1] = 0
        r[2] = op
        r[3] = code
        self._rsp_len = 4

    def _indicate(self):
        # busy BEFORE asking the stack: its INDICATE_DONE may run right after the call
        self._ind_busy = True
        try:
            self.ble.gatts_indicate(self.conn, self.h_racp, memoryview(self._rsp)[:self._rsp_len])
        except (OSError, TypeError):
            self._ind_busy = False
            return  # one indication in flight or the link just went: retry on the next poll
        self._rsp_len = 0

    def _fill(self):
        """Pack the next notification (header + frame bytes) into _nbuf; False at the end."""
        room = self.mtu - 3
        if room > _MAX_PAYLOAD:
            room = _MAX_PAYLOAD
        buf = self._nbuf
        hdr = self._counter & P.HDR_COUNTER_MASK
        if self._foff < self._flen:
            hdr |= P.HDR_CONT
        pos = 1
        while pos < room:
            if self._foff >= self._flen:
                n = 0
                for n in self._it:
                    break
                else:
                    n = 0
                if n == 0:
                    break
                self._flen = n
                self._foff = 0
                self.sent_records += 1
            k = self._flen - self._foff
            if k > room - pos:
                k = room - pos
            buf[pos:pos + k] = self._fmv[self._foff:self._foff + k]
            pos += k
            self._foff += k
        if pos == 1:
            return False
        buf[0] = hdr
        self._counter = (self._counter + 1) & P.HDR_COUNTER_MASK
        self._nlen = pos
        return True

    def _finish_report(self):
        self._stop_report()
        self._respond(P.OP_REPORT, P.RSP_SUCCESS)

    def _stop_report(self):
        self.reporting = False
        self._it = None
        self._nlen = 0
        self._flen = 0
        self._foff = 0

    # ------------------------------------------------------------------ clock, status, live
    def _set_time(self):
        n = self._cts_len
        self._cts_len = -1
        try:
            unix_s = P.cts_to_unix(memoryview(self._cts)[:n])
        except ValueError:
            return  # malformed time: no anchor (the host reads the clock back to check)
        boot, ms = self.clock()
        # the host's time was unix_s + fraction at device ms: anchor the whole second to the
        # device ms it happened at (the anchor then places events to a few ms, not 1 s)
        adj = P.cts_fraction_ms(self._cts)
        if ms >= adj:
            ms -= adj
        a = self._anchor
        a[0] = boot
        a[1] = ms
        a[2] = unix_s
        a[3] = self._tz
        self.log.append(R.TYPE_TIME_ANCHOR, a)
        self.time_set_count += 1
        self.refresh_status()

    def refresh_status(self):
        bp, dropped, cov, cfgv = 0xFF, 0, 0, 0
        if self.status_fn is not None:
            bp, dropped, cov, cfgv = self.status_fn()
        log = self.log
        boot, ms = self.clock()
        fw = 0
        try:
            from core import fwinfo
            fw = (fwinfo.FW_VERSION_MAJOR << 8) | (fwinfo.FW_VERSION_MINOR & 0xFF)
        except ImportError:
            pass
        self.ble.gatts_write(self.h_status, struct.pack(
            P.STATUS_FMT, bp & 0xFF, log.last_seq, log.acked_seq, log.first_seq,
            dropped, cov, fw, cfgv, ms))
        self.ble.gatts_write(self.h_batt, bytes((bp if bp <= 100 else 0,)))

    def push_live(self, env, n):
        """Send up to n envelope samples (0.01 uV, array('i')) as 0.1 uV u16; skipped if the
        host has not asked for the live stream or the stack queue is full."""
        if not self._live_on or self.conn is None or not self.encrypted:
            return False
        room = (self.mtu - 4) // 2
        if n > room:
            n = room
        if n > _LIVE_MAX:
            n = _LIVE_MAX
        b = self._live
        b[0] = self._live_counter
        for i in range(n):
            v = env[i] // 10
            if v < 0:
                v = 0
            elif v > 0xFFFF:
                v = 0xFFFF
            b[1 + 2 * i] = v & 0xFF
            b[2 + 2 * i] = v >> 8
        try:
            self.ble.gatts_notify(self.conn, self.h_live, memoryview(b)[:1 + 2 * n])
        except (OSError, TypeError):
            return False
        self._live_counter = (self._live_counter + 1) & 0xFF
        return True
