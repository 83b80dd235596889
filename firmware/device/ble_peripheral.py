"""BLE GATT peripheral: records sync, clock, status, config and live stream (device module).

``BlePeripheral(ble, log, clock, ...)`` receives the radio (a ``bluetooth.BLE()``), the
flash log (``flashlog.FlashLog``) and ``clock() -> (boot, ms)`` (device time); it imports
nothing hardware-specific itself. Protocol and UUIDs: ``racp.py``.

Services: Device Information (0x180A), Battery (0x180F), Current Time (0x1805, writable:
a host write appends a TIME_ANCHOR record) and the spasmtrack service (records notify,
RACP-style control point with indicated responses, live envelope, status, config).

Security (docs/ble-security.md). Everything except Device Information and Battery needs an
authenticated bond: LE Secure Connections with passkey entry, the device displaying
(``io`` DISPLAY_ONLY, ``mitm``), the passkey chosen at random per pairing and shown through
``show_passkey(passkey)`` (the board's LED code or console), the patient typing it on the
host. Pairing is possible only inside a pairing window (:meth:`open_pairing_window`, opened
by a long press of the button); a pairing outside it is ended, and the bond of a pairing
that was not MITM-protected (Just Works) is not stored. The characteristics carry the
stack's ``*_AUTHENTICATED`` flags (NimBLE answers 0x05 Insufficient Authentication), and
the firmware checks the link itself too, because NimBLE accepts subscriptions on any link:
nothing is notified, and no write is applied, unless the link is encrypted, authenticated
and bonded. At most ``MAX_BONDS`` bonds are kept (the oldest is evicted). The device
advertises a resolvable private address and no name or service that tells what it is.
An acknowledgement (RACP DELETE) from a different bond than the previous one is logged as
an ACK record naming that bond's id (``peer_id``), and the status characteristic tells
every host its own id, so the patient's host learns when someone else acknowledged.

BLE start-up follows MicroPython's NimBLE binding: the IRQ handler is registered before
``active(True)`` (activation already asks for the identity key, secret type 10) and
``config(mtu=, addr_mode=)`` come after it (before activation they raise ENODEV).

IRQ handlers only copy the written bytes into preallocated buffers and set flags; bond
secrets are copied into :class:`BondStore`'s preallocated slots and saved to flash by
:meth:`poll`, never inside the IRQ. :meth:`poll` (called from the main loop or the
:meth:`run` task) does the work. BLE IRQs are scheduled callbacks: they run between any
two bytecodes of the main loop, in the middle of :meth:`poll`. So each piece of state has
ONE writer: the command queue is a single-producer ring (the IRQ moves only ``_q_tail``,
poll only ``_q_head``), connection changes only bump ``_gen`` and poll resets its
report/response state when it sees a new generation, and the indication-busy flag is set
before the stack is asked to indicate. A report streams frames from ``log.read_from``
packed into MTU-sized notifications; when the stack's buffer pool is empty (``OSError``
from ``gatts_notify``) the notification is kept and the report pauses ``BACKOFF_MS``; the
number of buffers that burst got is remembered and later bursts stop ``POOL_RESERVE``
short of it, so the pool never runs empty again and the host's writes (acks) find a
buffer (NimBLE refuses them with ATT 0x11 otherwise); nothing is dropped; records
stay in the log until the host's DELETE (ack) after it has committed them.
"""
import struct
import time
from array import array
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
_IRQ_PASSKEY_ACTION = const(31)

_F_READ = const(0x0002)
_F_WRITE = const(0x0008)
_F_NOTIFY = const(0x0010)
_F_INDICATE = const(0x0020)
_F_READ_AUTHN = const(0x0400)
_F_WRITE_AUTHN = const(0x2000)

_IO_DISPLAY_ONLY = const(0)
_ADDR_MODE_RPA = const(2)
_PASSKEY_ACTION_DISPLAY = const(3)
_MAX_MTU = const(247)
_MAX_PAYLOAD = const(_MAX_MTU - 3)
_CMD_MAX = const(20)
_CMD_SLOTS = const(4)
_CONFIG_MAX = const(64)
_ADV_INTERVAL_US = const(250000)
_LIVE_MAX = const(60)
_SEQ_MASK = const(0x3FFFFFFF)   # ring and generation counters (a multiple of _CMD_SLOTS)
BACKOFF_MS = const(20)          # pause of a report after the stack's pool ran empty
POOL_RESERVE = const(2)         # buffers a report leaves free for the host's writes
_MAX_BURST_CAP = const(64)
_GROW_AFTER = const(16)
PAIR_WINDOW_MS = const(120000)  # how long a long press lets a host pair

# NimBLE's bond secrets (modbluetooth_nimble.c ble_secret_store_*): sec_type 1 (our keys)
# and 2 (the peer's), keyed by a 7-byte ble_addr_t, valued by the 80-byte
# struct ble_store_value_sec, whose byte 74 holds the authenticated flag (bit 1); the
# sim stack's boards/sim/simwire.py builds the same struct (tests tie the two).
_SEC_OUR = const(1)
_SEC_PEER = const(2)
_SEC_OUR_IRK = const(10)
KEY_LEN = const(7)
VALUE_LEN = const(80)
VALUE_FLAGS = const(74)
VALUE_AUTHENTICATED = const(0x02)
_IRK_LEN = const(16)
MAX_BONDS = const(4)
_FILE_MAGIC = b"STB2"


class BondStore:
    """The identity key and at most ``n`` bonds in preallocated slots; ``get``/``set`` are
    the _IRQ_GET/SET_SECRET handlers (no allocation: values are returned as memoryviews
    made once); ``save()`` (from the main loop when ``dirty``) writes the file."""

    def __init__(self, path, n=MAX_BONDS):
        self.path = path
        self.n = n
        self._keys = bytearray(n * KEY_LEN)
        self._our = bytearray(n * VALUE_LEN)
        self._peer = bytearray(n * VALUE_LEN)
        self._have = bytearray(n)                # bit 0: our keys, bit 1: the peer's
        self._age = array("i", [0] * n)          # bond order (for eviction)
        self._clock = 0
        self._irk = bytearray(_IRK_LEN)
        self._head = bytearray(8)                # magic, n, irk present, last acker (LE)
        vo, po = memoryview(self._our), memoryview(self._peer)
        self._our_mv = [vo[i * VALUE_LEN:(i + 1) * VALUE_LEN] for i in range(n)]
        self._peer_mv = [po[i * VALUE_LEN:(i + 1) * VALUE_LEN] for i in range(n)]
        self._irk_mv = memoryview(self._irk)
        self.dirty = False
        self.evicted = 0
        self._load()

    def _parts(self):
        # the file is these buffers one after the other (fixed sizes for n slots)
        return (self._head, self._have, self._age, self._keys, self._our, self._peer, self._irk)

    def _load(self):
        try:
            with open(self.path, "rb") as f:
                for part in self._parts():
                    if f.readinto(part) != len(bytes(part)):
                        raise OSError(5)
        except OSError:
            self._head[0] = 0                    # missing or short: no bonds (pair again)
        h = self._head
        if h[:4] != _FILE_MAGIC or h[4] != self.n:
            for part in self._parts():
                for k in range(len(part)):       # unknown file: start empty
                    part[k] = 0
            h[:4] = _FILE_MAGIC
            h[4] = self.n
        for i in range(self.n):
            if self._age[i] > self._clock:
                self._clock = self._age[i]

    @property
    def last_acker(self):
        """Peer id of the bond that sent the last acknowledgement (0: none yet)."""
        return self._head[6] | (self._head[7] << 8)

    @last_acker.setter
    def last_acker(self, pid):
        self._head[6] = pid & 0xFF
        self._head[7] = (pid >> 8) & 0xFF

    def save(self):
        """Write the file (main loop only: never from an IRQ)."""
        self.dirty = False
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            for part in self._parts():
                f.write(part)
        import os
        os.rename(tmp, self.path)

    def count(self):
        k = 0
        for i in range(self.n):
            if self._have[i]:
                k += 1
        return k

    def _find(self, key):
        keys = self._keys
        for i in range(self.n):
            if self._have[i]:
                o = i * KEY_LEN
                j = 0
                while j < KEY_LEN and keys[o + j] == key[j]:
                    j += 1
                if j == KEY_LEN:
                    return i
        return -1

    def _slot_for_new(self):
        oldest = -1
        for i in range(self.n):
            if not self._have[i]:
                return i
            if oldest < 0 or ((self._clock - self._age[i]) & _SEQ_MASK) > \
                    ((self._clock - self._age[oldest]) & _SEQ_MASK):
                oldest = i
        self._have[oldest] = 0                   # the oldest bond goes
        self.evicted += 1
        return oldest

    def get(self, sec_type, index, key):
        if sec_type == _SEC_OUR_IRK:
            return self._irk_mv if self._head[5] == 1 else None
        if sec_type != _SEC_OUR and sec_type != _SEC_PEER:
            return None
        bit = 1 if sec_type == _SEC_OUR else 2
        if key is None:                          # iterate: the index-th bond
            k = 0
            for i in range(self.n):
                if self._have[i] & bit:
                    if k == index:
                        return self._our_mv[i] if bit == 1 else self._peer_mv[i]
                    k += 1
            return None
        if len(key) != KEY_LEN:
            return None
        i = self._find(key)
        if i < 0 or not self._have[i] & bit:
            return None
        return self._our_mv[i] if bit == 1 else self._peer_mv[i]

    def set(self, sec_type, key, value):
        if sec_type == _SEC_OUR_IRK:
            if value is None or len(value) != _IRK_LEN:
                return False
            self._irk[:] = value
            self._head[5] = 1
            self.dirty = True
            return True
        if sec_type != _SEC_OUR and sec_type != _SEC_PEER or len(key) != KEY_LEN:
            return False
        bit = 1 if sec_type == _SEC_OUR else 2
        i = self._find(key)
        if value is None:                        # delete
            if i < 0:
                return False
            self._have[i] &= ~bit
            self.dirty = True
            return True
        if len(value) != VALUE_LEN:
            return False
        if i < 0:
            i = self._slot_for_new()
            o = i * KEY_LEN
            for j in range(KEY_LEN):
                self._keys[o + j] = key[j]
            self._clock = (self._clock + 1) & _SEQ_MASK
            self._age[i] = self._clock
        (self._our_mv[i] if bit == 1 else self._peer_mv[i])[:] = value
        self._have[i] |= bit
        self.dirty = True
        return True


def authenticated_value(value):
    """True when a NimBLE bond value records a MITM-protected (authenticated) pairing."""
    return len(value) == VALUE_LEN and bool(value[VALUE_FLAGS] & VALUE_AUTHENTICATED)


class BlePeripheral:
    def __init__(self, ble, log, clock, name="spasmtrack", bonds=None, status=None,
                 config_read=None, config_write=None, fw_version="0.0", model="sim",
                 uuid=None, show_passkey=None, random_passkey=None):
        """``status() -> (battery_pct, dropped_samples, coverage_pm, config_version)``;
        ``config_read() -> bytes``; ``config_write(bytes) -> bool``; ``bonds``: BondStore;
        ``show_passkey(passkey)``: present a pairing passkey to the patient (LED code or
        console); ``random_passkey() -> 0..999999`` (default: os.urandom)."""
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
        self.show_passkey = show_passkey
        self.random_passkey = random_passkey or _random_passkey
        self.conn = None
        self.mtu = 23
        self.encrypted = False
        self.bonded = False
        self.authenticated = False
        self.trusted = False             # encrypted + authenticated + bonded (this link)
        self._peer = bytearray(7)        # the link's peer: address type, address
        self.peer_id = 0
        self._pair_until = 0
        self._pair_open = False
        self._passkey_conn = -1          # a pairing waits for our passkey (IRQ -> poll)
        self._drop_conn = -1             # a link to end (IRQ -> poll)
        self._enc_seen = False
        self.refused_pairings = 0
        self.refused_bonds = 0
        self.untrusted_writes = 0
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
        self._hold_until = 0
        self._holding = False
        self._burst = 0                  # notifications since the last pause
        self._burst_cap = 0              # buffers found free last time the pool ran empty
        self._clean = 0                  # bursts ended by choice since then
        self.sent_notifications = 0
        self.sent_records = 0
        self.full_retries = 0
        # control point, clock and config writes (copied in IRQ, handled in poll)
        self._q = [bytearray(_CMD_MAX) for _ in range(_CMD_SLOTS)]
        self._q_len = [0] * _CMD_SLOTS
        self._q_gen = [0] * _CMD_SLOTS   # connection generation each command came on
        self._q_pid = [0] * _CMD_SLOTS   # the bond (peer id) each command came from
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
        self._ack = [0, 0, 0, 0]
        self.time_set_count = 0
        self._register(uuid)

    # ------------------------------------------------------------------ setup
    def _register(self, U):
        ble = self.ble
        ble.irq(self._irq)      # before active(): activation asks for the identity key
        ble.active(True)
        ble.config(gap_name=self.name, mtu=_MAX_MTU, bond=True, le_secure=True, mitm=True,
                   io=_IO_DISPLAY_ONLY)
        ble.config(addr_mode=_ADDR_MODE_RPA)
        auth_r = _F_READ | _F_READ_AUTHN
        auth_w = _F_WRITE | _F_WRITE_AUTHN
        dis = (U(P.DIS_UUID16), ((U(P.MANUFACTURER_UUID16), _F_READ),
                                 (U(P.MODEL_UUID16), _F_READ),
                                 (U(P.FIRMWARE_REV_UUID16), _F_READ)))
        bas = (U(P.BAS_UUID16), ((U(P.BATTERY_LEVEL_UUID16), _F_READ | _F_NOTIFY),))
        cts = (U(P.CTS_UUID16), ((U(P.CURRENT_TIME_UUID16), auth_r | _F_NOTIFY | auth_w),
                                 (U(P.LOCAL_TIME_UUID16), auth_r | auth_w)))
        st = (U(P.SERVICE_UUID), ((U(P.RECORDS_UUID), _F_NOTIFY | _F_READ_AUTHN),
                                  (U(P.RACP_UUID), auth_w | _F_INDICATE | _F_READ_AUTHN),
                                  (U(P.LIVE_UUID), _F_NOTIFY | auth_w | _F_READ_AUTHN),
                                  (U(P.STATUS_UUID), auth_r | _F_NOTIFY),
                                  (U(P.CONFIG_UUID), auth_r | auth_w)))
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

    # ------------------------------------------------------------------ pairing window
    def open_pairing_window(self, ms=PAIR_WINDOW_MS):
        """Let a host pair for ``ms`` (the patient's long press)."""
        self._pair_until = time.ticks_add(time.ticks_ms(), ms)
        self._pair_open = True

    def pairing_open(self):
        if self._pair_open and time.ticks_diff(self._pair_until, time.ticks_ms()) <= 0:
            self._pair_open = False
        return self._pair_open

    def model_name(self):
        return b"spasmtrack"

    def fw_name(self):
        try:
            from core import fwinfo
            return ("%d.%d" % (fwinfo.FW_VERSION_MAJOR, fwinfo.FW_VERSION_MINOR)).encode()
        except ImportError:
            return b"0.0"

    def advertise(self):
        """Advertise with flags only (a bonded host finds the device by resolving its
        private address); inside the pairing window the neutral name is added so a new
        host can find it. Neither names a product or a service."""
        adv = bytes((2, 1, 6))
        if self.pairing_open():
            n = self.name.encode()[:26]
            adv += bytes((len(n) + 1, 9)) + n
        self.ble.gap_advertise(_ADV_INTERVAL_US, adv)

    # ------------------------------------------------------------------ IRQ (copy + flag)
    def _irq(self, event, data):
        if event == _IRQ_GATTS_WRITE:
            conn, h = data
            if conn != self.conn or not self.trusted:
                self.untrusted_writes += 1   # the stack let it through: never applied
                return None
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
                    self._q_pid[i] = self.peer_id
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
            self.authenticated = False
            self.trusted = False
            p = self._peer
            p[0] = data[1]
            a = data[2]
            for i in range(6):
                p[1 + i] = a[i]
        elif event == _IRQ_CENTRAL_DISCONNECT:
            if data[0] != self.conn:
                return None      # a late event for a link already replaced: not this one
            self.conn = None
            self._gen = (self._gen + 1) & _SEQ_MASK
            self.encrypted = False
            self.trusted = False
            self._live_on = False
            # queued commands stay: an acknowledgement still counts without the link,
            # the others are answered to nobody
            self.advertise()
        elif event == _IRQ_MTU_EXCHANGED:
            self.mtu = data[1] if data[1] <= _MAX_MTU else _MAX_MTU
        elif event == _IRQ_ENCRYPTION_UPDATE:
            if data[0] != self.conn:
                return None
            self.encrypted = data[1] != 0
            self.authenticated = data[2] != 0
            self.bonded = data[3] != 0
            self.trusted = self.encrypted and self.authenticated and self.bonded
            if self.encrypted and not self.trusted:
                self._drop_conn = data[0]   # Just Works or no bond: this link gets nothing
            self.peer_id = _peer_id(self._peer) if self.trusted else 0
            self._enc_seen = True
        elif event == _IRQ_PASSKEY_ACTION:
            self._passkey_conn = data[0]
            self._passkey_action = data[1]
        elif event == _IRQ_GET_SECRET:
            if self.bonds is None:
                return None
            return self.bonds.get(data[0], data[1], data[2])
        elif event == _IRQ_SET_SECRET:
            if self.bonds is None:
                return False
            st = data[0]
            if st == _SEC_OUR or st == _SEC_PEER:
                # a new bond: only inside the pairing window, only MITM-protected; a bond
                # is deleted only inside it too (NimBLE deletes the old bond when a known
                # address pairs again: a host spoofing the patient's address must not
                # erase the patient's bond from outside the window)
                v = data[2]
                if not self.pairing_open() or (v is not None and not authenticated_value(v)):
                    self.refused_bonds += 1
                    return False
            return self.bonds.set(st, data[1], data[2])
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
            self._holding = False
        self._security()
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
        if self._holding:
            if time.ticks_diff(time.ticks_ms(), self._hold_until) < 0:
                return 0        # the pool drains; the host's writes find a buffer meanwhile
            self._holding = False
            self._burst = 0
        while self.reporting and sent < budget and self.conn is not None and self.trusted:
            if self._burst_cap and self._burst >= self._burst_cap - POOL_RESERVE:
                self._pause()   # leave POOL_RESERVE buffers for the host's writes
                break
            if self._nlen == 0 and not self._fill():
                if self._rsp_len == 0:
                    self._finish_report()  # else: after the pending response is indicated
                break
            try:
                self.ble.gatts_notify(self.conn, self.h_rec, self._nmv[:self._nlen])
            except OSError:
                self.full_retries += 1  # stack pool empty: keep it, retry after a pause
                self._pause(True)
                break
            except TypeError:           # the link went (conn None) just now
                break
            self._nlen = 0
            self._burst += 1
            sent += 1
            self.sent_notifications += 1
        return sent

    def _pause(self, full=False):
        """Stop notifying for BACKOFF_MS. ``full``: the pool ran empty (ENOMEM): the
        buffers this burst got are what was free, so later bursts stay POOL_RESERVE below
        that; after _GROW_AFTER bursts that ended by choice the limit grows by one."""
        if full:
            self._burst_cap = self._burst if self._burst > POOL_RESERVE else POOL_RESERVE + 1
            self._clean = 0
        else:
            self._clean += 1
            if self._clean >= _GROW_AFTER and self._burst_cap < _MAX_BURST_CAP:
                self._burst_cap += 1
                self._clean = 0
        self._hold_until = time.ticks_add(time.ticks_ms(), BACKOFF_MS)
        self._holding = True

    def _security(self):
        """Pairing and bond work the IRQs handed over (main loop: may allocate, write flash)."""
        c = self._passkey_conn
        if c >= 0:
            self._passkey_conn = -1
            if c == self.conn and self.pairing_open() and \
                    self._passkey_action == _PASSKEY_ACTION_DISPLAY:
                pk = self.random_passkey()
                self.ble.gap_passkey(c, _PASSKEY_ACTION_DISPLAY, pk)
                if self.show_passkey is not None:
                    self.show_passkey(pk)
            else:
                self.refused_pairings += 1      # outside the window: end the link
                self._drop(c)
        c = self._drop_conn
        if c >= 0:
            self._drop_conn = -1
            self._drop(c)
        if self._enc_seen:
            self._enc_seen = False
            self.refresh_status()
        b = self.bonds
        if b is not None and b.dirty:
            b.save()

    def _drop(self, conn):
        try:
            self.ble.gap_disconnect(conn)
        except OSError:
            pass

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
        pid = self._q_pid[i]
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
            if seq > log.acked_seq:
                self._note_acker(pid)
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

    def _note_acker(self, pid):
        """An acknowledgement from another bond than the last one: log an ACK record
        naming it (the seq it acknowledged from), so every host learns of it."""
        b = self.bonds
        if b is None or pid == b.last_acker:
            return
        first = b.last_acker == 0
        b.last_acker = pid
        b.dirty = True
        if first:
            return          # the first host ever to acknowledge: nobody to tell
        boot, ms = self.clock()
        a = self._ack
        a[0] = boot
        a[1] = ms
        a[2] = self.log.acked_seq + 1
        a[3] = pid
        self.log.append(R.TYPE_ACK, a)

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
            dropped, cov, fw, cfgv, ms, self.peer_id))
        self.ble.gatts_write(self.h_batt, bytes((bp if bp <= 100 else 0,)))

    def push_live(self, env, n):
        """Send up to n envelope samples (0.01 uV, array('i')) as 0.1 uV u16; skipped if the
        host has not asked for the live stream or the stack queue is full."""
        if not self._live_on or self.conn is None or not self.trusted:
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


def _peer_id(peer):
    """16-bit id of a peer (address type + address), never 0; no allocation (IRQ)."""
    h = 0x1D0F
    for i in range(7):
        h = ((h * 31) ^ peer[i]) & 0xFFFF
    return h or 1


def _random_passkey():
    import os
    b = os.urandom(3)
    return (b[0] | (b[1] << 8) | (b[2] << 16)) % 1000000
