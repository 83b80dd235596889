# Sim board: the MicroPython `bluetooth` module, backed by a Bumble host stack.
#
# MicroPython cannot run Bumble, so every BLE() call is sent as a small binary frame over
# TCP to the bridge (host/spasmtrack/ble/simbridge.py, address in the environment variable
# SPASMTRACK_BLE_BRIDGE, "127.0.0.1:PORT"), which owns a Bumble Device on the virtual
# radio. The frames are defined once, in simwire.py, which both sides load. Events come
# back as frames and are delivered to the handler given to BLE.irq() from the main thread
# through micropython.schedule(), like the ESP32 port delivers NimBLE events. A small
# reader thread only waits for the socket to become readable (it allocates nothing).
#
# What the firmware sees is what MicroPython's NimBLE binding does (extmod/modbluetooth.c,
# extmod/nimble/modbluetooth_nimble.c; each point has a test in tests/test_ble_nimble.py):
# - config(mtu=) / config(addr_mode=) and config("mac") / config("mtu") before
#   active(True) raise OSError(ENODEV) (mp_bluetooth_set_preferred_mtu & co. check
#   mp_bluetooth_is_active); gap_name, bond, mitm, io and le_secure are accepted.
# - active(True) loads the identity key: _IRQ_GET_SECRET(10, 0, b"irk") and, when the
#   handler has none, _IRQ_SET_SECRET(10, b"irk", 16 random bytes) (load_irk(), called
#   from sync_cb while activating): a handler registered after active() misses both.
# - bond secrets are sec_type 1 (our) and 2 (peer), keyed by a 7-byte ble_addr_t, valued
#   by the 80-byte ble_store_value_sec (simwire.SEC_VALUE_FMT); a peer lookup without key
#   iterates by index (ble_secret_store_read); a False answer to SET_SECRET leaves the
#   link encrypted but not bonded (BLE_HS_ESTORE_CAP).
# - _IRQ_ENCRYPTION_UPDATE carries ints (conn, encrypted, authenticated, bonded, key_size)
#   (mp_bluetooth_gatts_on_encryption_update); Just Works gives authenticated = 0.
# - attribute permissions (_FLAG_*_ENCRYPTED / _AUTHENTICATED) are checked by the stack
#   and refused with ATT 0x05 Insufficient Authentication; CCCD writes (subscriptions) are
#   accepted on any link (the firmware must check security itself before notifying).
# - gatts_notify() takes one of TX_SLOTS buffers of the shared pool until the controller
#   has sent it; with none free it raises OSError(ENOMEM) (ble_hs_mbuf_from_flat); while
#   the pool is empty a peer's write is refused with ATT 0x11 Insufficient Resources
#   before the firmware sees it. TX_SLOTS defaults to 12 (ESP-IDF's
#   CONFIG_BT_NIMBLE_MSYS_1_BLOCK_COUNT); SPASMTRACK_SIM_TXBUF overrides it.
# - gatts_indicate() has no EALREADY (indications queue in the stack); a failed one
#   fires _IRQ_GATTS_INDICATE_DONE with the error status inside the call, then raises
#   (ble_gattc_indicate_custom -> ble_gap_notify_tx_event).
# - attribute buffers are 20 bytes unless gatts_set_buffer(); central writes are
#   truncated to the buffer (or appended in append mode); local gatts_write grows it.
# - config(addr_mode=2) advertises a resolvable private address made from the identity
#   key; config("mac") then raises OSError(EINVAL) (mp_bluetooth_get_current_address).
# - _IRQ_PASSKEY_ACTION (conn, action, passkey) asks for gap_passkey() (display: the
#   firmware chooses the passkey and shows it).
# Events are dispatched from scheduled callbacks, i.e. between ANY two bytecodes of the
# main program (as on the ESP32). The C stack's calls are atomic there; here each frame
# goes out in ONE socket write (a reply sent from a callback never lands inside another
# frame) and the transmit slots are two counters with one writer each (sent by
# gatts_notify, done by the TXDONE event), so no update is lost.
import os
import socket
import struct
import select
import micropython
import _thread
from micropython import const

import simwire as W

# IRQ numbers (MicroPython docs)
_IRQ_CENTRAL_CONNECT = const(1)
_IRQ_CENTRAL_DISCONNECT = const(2)
_IRQ_GATTS_WRITE = const(3)
_IRQ_GATTS_READ_REQUEST = const(4)
_IRQ_GATTS_INDICATE_DONE = const(20)
_IRQ_MTU_EXCHANGED = const(21)
_IRQ_ENCRYPTION_UPDATE = const(28)
_IRQ_GET_SECRET = const(29)
_IRQ_SET_SECRET = const(30)
_IRQ_PASSKEY_ACTION = const(31)

FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)

_ENODEV = const(19)
_EINVAL = const(22)
_ENOMEM = const(12)
_ENOTCONN = const(107)
_BLE_HS_ENOTCONN = const(7)     # NimBLE's own code, as INDICATE_DONE reports it
_ADDR_MODE_RPA = const(2)
_DEFAULT_BUF = const(20)


class UUID:
    def __init__(self, value):
        if isinstance(value, UUID):
            self._b = value._b
        elif isinstance(value, int):
            if not 0 <= value <= 0xFFFF:
                raise ValueError("invalid UUID")
            self._b = struct.pack("<H", value)
        elif isinstance(value, (bytes, bytearray)):
            if len(value) not in (2, 4, 16):
                raise ValueError("invalid UUID")
            self._b = bytes(value)
        else:
            h = value.replace("-", "")
            if len(h) != 32:
                raise ValueError("invalid UUID")
            b = bytearray(16)
            for i in range(16):
                b[15 - i] = int(h[2 * i:2 * i + 2], 16)
            self._b = bytes(b)

    def __bytes__(self):
        return self._b

    def __len__(self):
        return len(self._b)

    def __eq__(self, other):
        return isinstance(other, UUID) and other._b == self._b

    def __hash__(self):
        return hash(self._b)

    def __repr__(self):
        if len(self._b) == 2:
            return "UUID(0x%04x)" % struct.unpack("<H", self._b)[0]
        h = "".join("%02x" % x for x in reversed(self._b))
        return "UUID('%s-%s-%s-%s-%s')" % (h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])


def _env_int(name, default):
    v = os.getenv(name)
    return int(v) if v else default


class _Attr:
    def __init__(self):
        self.value = b""
        self.buf = _DEFAULT_BUF
        self.append = False


class BLE:
    _instance = None

    def __new__(cls):
        # bluetooth.BLE() is a singleton on MicroPython.
        if BLE._instance is None:
            BLE._instance = object.__new__(cls)
            BLE._instance._init()
        return BLE._instance

    def __init__(self):
        pass

    def _init(self):
        self._sock = None
        self._active = False
        self._handler = None
        self._mtu = 23
        self._io = 3
        self._bond = False
        self._mitm = False
        self._le_secure = False
        self._addr_mode = 1
        self._name = "MPY NIMBLE"
        self._attrs = {}
        self._slots = _env_int("SPASMTRACK_SIM_TXBUF", 12)
        self._inflight = {}     # conn -> notifications sent (written by gatts_notify)
        self._txdone = {}       # conn -> completions (written by the TXDONE event)
        self._events = []
        self._busy = False
        self._poller = None
        self._lock = _thread.allocate_lock()
        self._service_ref = self._service
        mac = os.getenv("SPASMTRACK_SIM_MAC") or "F0:5A:5A:00:00:01"
        self._addr = bytes(int(x, 16) for x in mac.split(":"))

    # -- transport ---------------------------------------------------------------------
    def _connect(self):
        addr = os.getenv("SPASMTRACK_BLE_BRIDGE")
        if not addr:
            raise OSError(_ENODEV)  # no radio attached to this sim board
        host, port = addr.rsplit(":", 1)
        s = socket.socket()
        s.connect(socket.getaddrinfo(host, int(port))[0][-1])
        try:   # no Nagle delay: a buffer taken here is taken at the bridge at once
            s.setsockopt(6, 1, 1)   # IPPROTO_TCP, TCP_NODELAY
        except (OSError, AttributeError):
            pass
        self._sock = s
        self._poller = select.poll()
        self._poller.register(s, select.POLLIN)
        self._send(W.OP_HELLO, self._addr, self._slots, tail=self._name.encode())
        self._send_config()
        _thread.start_new_thread(self._reader, ())

    def _reader(self):
        # Runs in its own thread: wait for data, ask the main thread to handle it,
        # then wait until it has (the lock), so nothing is read concurrently.
        p = select.poll()
        p.register(self._sock, select.POLLIN)
        lock = self._lock
        sched = micropython.schedule
        ref = self._service_ref
        while self._sock is not None:
            for _ in p.ipoll(-1):
                pass
            lock.acquire()
            try:
                sched(ref, 0)
            except RuntimeError:  # schedule queue full: try again shortly
                lock.release()
                continue

    def _send(self, op, *fields, tail=b""):
        s = self._sock
        if s is None:
            raise OSError(_ENOTCONN)
        s.write(W.pack(op, *fields, tail=tail))  # one write: atomic

    def _read_exact(self, n):
        buf = bytearray(n)
        mv = memoryview(buf)
        got = 0
        while got < n:
            k = self._sock.readinto(mv[got:])
            if not k:
                raise OSError(_ENOTCONN)
            got += k
        return buf

    def _read_frame(self):
        (n,) = struct.unpack("<H", self._read_exact(2))
        body = self._read_exact(n)
        return body[0], bytes(body[1:])

    def _readable(self):
        for _ in self._poller.ipoll(0):
            return True
        return False

    def _call(self, op, want, *fields, tail=b""):
        # Synchronous request: events that arrive before the reply are kept in order
        # and delivered afterwards from the scheduler (never nested inside this call),
        # except what the stack waits for (secrets, read requests), as in NimBLE.
        self._busy = True
        try:
            self._send(op, *fields, tail=tail)
            while True:
                ev, p = self._read_frame()
                if ev == want:
                    return p
                if ev == W.EV_GETSECRET or ev == W.EV_SETSECRET or ev == W.EV_READREQ:
                    self._dispatch(ev, p)
                else:
                    self._events.append((ev, p))
        finally:
            self._busy = False
            if self._events:
                micropython.schedule(self._service_ref, 0)

    def _service(self, _arg):
        if self._busy:  # a synchronous call owns the socket; it reschedules us
            if self._lock.locked():
                self._lock.release()
            return
        try:
            while self._events:
                ev, p = self._events.pop(0)
                self._dispatch(ev, p)
            while self._sock is not None and self._readable():
                ev, p = self._read_frame()
                self._dispatch(ev, p)
        except Exception as e:  # an IRQ handler bug must not kill the radio thread
            import sys
            sys.print_exception(e)
        finally:
            if self._lock.locked():
                self._lock.release()

    def _irq(self, event, data):
        h = self._handler
        if h is not None:
            return h(event, data)
        return None

    def _dispatch(self, ev, p):
        if ev == W.EV_CONNECT or ev == W.EV_DISCONNECT:
            (conn, at, addr), _ = W.unpack(ev, p)
            if ev == W.EV_CONNECT:
                self._txdone[conn] = 0
                self._inflight[conn] = 0
                self._irq(_IRQ_CENTRAL_CONNECT, (conn, at, memoryview(addr)))
            else:
                self._inflight.pop(conn, None)
                self._txdone.pop(conn, None)
                self._irq(_IRQ_CENTRAL_DISCONNECT, (conn, at, memoryview(addr)))
        elif ev == W.EV_WRITE:
            (conn, handle), value = W.unpack(ev, p)
            a = self._attrs.get(handle)
            if a is not None:
                a.value = value
            self._irq(_IRQ_GATTS_WRITE, (conn, handle))
        elif ev == W.EV_READREQ:
            (req, conn, handle), _ = W.unpack(ev, p)
            rc = self._irq(_IRQ_GATTS_READ_REQUEST, (conn, handle)) or 0
            self._send(W.OP_REPLY, req, tail=bytes((rc & 0xFF,)))
        elif ev == W.EV_MTU:
            (conn, mtu), _ = W.unpack(ev, p)
            self._irq(_IRQ_MTU_EXCHANGED, (conn, mtu))
        elif ev == W.EV_ENC:
            (conn, enc, auth, bonded, ks), _ = W.unpack(ev, p)
            self._irq(_IRQ_ENCRYPTION_UPDATE, (conn, enc, auth, bonded, ks))  # ints, as NimBLE
        elif ev == W.EV_GETSECRET:
            (req, st, index), key = W.unpack(ev, p)
            v = self._irq(_IRQ_GET_SECRET, (st, index, memoryview(key) if key else None))
            self._send(W.OP_REPLY, req, tail=bytes(v) if v is not None else b"")
        elif ev == W.EV_SETSECRET:
            (req, st, klen), rest = W.unpack(ev, p)
            key = rest[:klen]
            value = rest[klen:]
            ok = self._irq(_IRQ_SET_SECRET, (st, memoryview(key),
                                             memoryview(value) if value else None))
            self._send(W.OP_REPLY, req, tail=b"\x01" if ok else b"\x00")
        elif ev == W.EV_INDDONE:
            (conn, handle, status), _ = W.unpack(ev, p)
            self._irq(_IRQ_GATTS_INDICATE_DONE, (conn, handle, status))
        elif ev == W.EV_TXDONE:
            (conn, n), _ = W.unpack(ev, p)
            if conn in self._txdone:
                self._txdone[conn] += n
        elif ev == W.EV_PASSKEY:
            (conn, action, passkey), _ = W.unpack(ev, p)
            self._irq(_IRQ_PASSKEY_ACTION, (conn, action, passkey))

    # -- public API -------------------------------------------------------------------
    def active(self, *args):
        if not args:
            return self._active
        on = bool(args[0])
        if on and not self._active:
            if self._sock is None:
                self._connect()
            # the bridge loads the identity key through the secret IRQs before it answers
            p = self._call(W.OP_ACTIVE, W.EV_OK, 1)
            if len(p) == 6:
                self._addr = bytes(p)
            self._active = True
        elif not on and self._active:
            self._call(W.OP_ACTIVE, W.EV_OK, 0)
            self._active = False
            self._inflight.clear()
            self._txdone.clear()
        return self._active

    def _send_config(self):
        if self._sock is not None:
            self._send(W.OP_CONFIG, self._mtu, self._io, self._bond, self._mitm,
                       self._le_secure, self._addr_mode, tail=self._name.encode())

    def config(self, *args, **kw):
        if args:
            k = args[0]
            if k == "gap_name":
                return self._name.encode()
            if k == "mac":
                self._need_active()
                if self._addr_mode == _ADDR_MODE_RPA:
                    raise OSError(_EINVAL)  # NimBLE cannot report the current RPA
                return (1, self._addr)  # random static address
            if k == "mtu":
                self._need_active()
                return self._mtu
            raise ValueError("unknown config param")
        for k, v in kw.items():
            if k == "mtu":
                self._need_active()
                if not 23 <= v <= 517:
                    raise OSError(_EINVAL)
                self._mtu = v
            elif k == "addr_mode":
                self._need_active()
                if not 0 <= v <= 3:
                    raise OSError(_EINVAL)
                self._addr_mode = int(v)
            elif k == "gap_name":
                self._name = v.decode() if isinstance(v, (bytes, bytearray)) else str(v)
            elif k == "io":
                self._io = int(v)
            elif k == "bond":
                self._bond = 1 if v else 0
            elif k == "mitm":
                self._mitm = 1 if v else 0
            elif k == "le_secure":
                self._le_secure = 1 if v else 0
            elif k == "rxbuf":
                pass
            else:
                raise ValueError("unknown config param")
        self._send_config()

    def irq(self, handler):
        self._handler = handler

    def _need_active(self):
        if not self._active:
            raise OSError(_ENODEV)   # ERRNO_BLUETOOTH_NOT_ACTIVE

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need_active()
        adv = bytes(adv_data or b"")
        resp = bytes(resp_data or b"")
        if len(adv) > 31 or len(resp) > 31:
            raise OSError(_EINVAL)  # legacy advertising payload too long
        iv = 0 if interval_us is None else max(1, int(interval_us))
        self._send(W.OP_ADV, iv, 1 if connectable else 0, len(adv), tail=adv + resp)

    def gap_disconnect(self, conn_handle):
        self._need_active()
        if conn_handle not in self._inflight:
            return False
        self._send(W.OP_DISCONNECT, conn_handle)
        return True

    def gap_pair(self, conn_handle):
        self._need_active()
        self._send(W.OP_PAIR, conn_handle)

    def gap_passkey(self, conn_handle, action, passkey):
        self._need_active()
        if action not in (W.PASSKEY_ACTION_INPUT, W.PASSKEY_ACTION_DISPLAY,
                          W.PASSKEY_ACTION_NUMERIC_COMPARISON):
            raise OSError(_EINVAL)
        self._send(W.OP_PASSKEY, conn_handle, action, int(passkey))

    def gatts_register_services(self, services):
        self._need_active()
        blob = bytearray([len(services)])
        counts = []
        for svc_uuid, chars in services:
            u = UUID(svc_uuid)._b
            blob += bytes([len(u)]) + u + bytes([len(chars)])
            n = 0
            for ch in chars:
                cu = UUID(ch[0])._b
                descs = ch[2] if len(ch) > 2 else ()
                blob += bytes([len(cu)]) + cu + struct.pack("<HB", ch[1], len(descs))
                n += 1
                for d in descs:
                    du = UUID(d[0])._b
                    blob += bytes([len(du)]) + du + struct.pack("<H", d[1])
                    n += 1
            counts.append(n)
        p = self._call(W.OP_REGISTER, W.EV_HANDLES, tail=bytes(blob))
        handles = [struct.unpack_from("<H", p, 2 * i)[0] for i in range(len(p) // 2)]
        out = []
        i = 0
        for n in counts:
            out.append(tuple(handles[i:i + n]))
            i += n
        for h in handles:
            self._attrs[h] = _Attr()
        return tuple(out)

    def _attr(self, handle):
        a = self._attrs.get(handle)
        if a is None:
            raise ValueError("invalid handle")
        return a

    def gatts_read(self, value_handle):
        return self._attr(value_handle).value

    def gatts_write(self, value_handle, data, send_update=False):
        a = self._attr(value_handle)
        a.value = bytes(data)
        if len(a.value) > a.buf:
            a.buf = len(a.value)
        self._send(W.OP_GWRITE, value_handle, 1 if send_update else 0, tail=a.value)

    def gatts_set_buffer(self, value_handle, length, append=False):
        a = self._attr(value_handle)
        a.buf = int(length)
        a.append = bool(append)
        self._send(W.OP_SETBUF, value_handle, a.buf, 1 if append else 0)

    def _pool_empty(self):
        used = 0
        for c in self._inflight:
            used += self._inflight[c] - self._txdone.get(c, 0)
        return used >= self._slots

    def gatts_notify(self, conn_handle, value_handle, data=None):
        self._need_active()
        n = self._inflight.get(conn_handle)
        if n is None:
            raise OSError(_ENOTCONN)
        if self._pool_empty():
            raise OSError(_ENOMEM)   # ble_hs_mbuf_from_flat() found no buffer
        v = self._attr(value_handle).value if data is None else data
        self._inflight[conn_handle] = n + 1
        self._send(W.OP_NOTIFY, conn_handle, value_handle, tail=bytes(v))

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._need_active()
        if self._pool_empty():
            raise OSError(_ENOMEM)
        if conn_handle not in self._inflight:
            # ble_gattc_indicate_custom fails: the NOTIFY_TX event (-> INDICATE_DONE with
            # the error) fires inside the call, then the call raises
            self._irq(_IRQ_GATTS_INDICATE_DONE, (conn_handle, value_handle, _BLE_HS_ENOTCONN))
            raise OSError(_ENOTCONN)
        v = self._attr(value_handle).value if data is None else data
        self._send(W.OP_INDICATE, conn_handle, value_handle, tail=bytes(v))
