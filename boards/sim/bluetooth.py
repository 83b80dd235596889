# Sim board: the MicroPython `bluetooth` module, backed by a Bumble host stack.
#
# MicroPython cannot run Bumble, so every BLE() call is sent as a small binary frame
# (u16 len | u8 op | fields) over TCP to the bridge (host/spasmtrack/ble/simbridge.py,
# address in the environment variable SPASMTRACK_BLE_BRIDGE, "127.0.0.1:PORT"), which
# owns a Bumble Device on the virtual radio. Events come back as frames and are delivered
# to the handler given to BLE.irq() from the main thread through micropython.schedule(),
# like the ESP32 port delivers NimBLE events. A small reader thread only waits for the
# socket to become readable (it allocates nothing).
#
# NimBLE-like behaviour the firmware sees:
# - gatts_notify() takes one of TX_SLOTS transmit buffers per notification until the
#   controller has sent it; with none free it raises OSError(ENOMEM) (NimBLE: mbuf pool
#   exhausted). TX_SLOTS defaults to 12 (ESP-IDF's CONFIG_BT_NIMBLE_MSYS_1_BLOCK_COUNT);
#   SPASMTRACK_SIM_TXBUF overrides it.
# - attribute buffers are 20 bytes unless gatts_set_buffer(); central writes are
#   truncated to the buffer (or appended in append mode); local gatts_write grows it.
# - only one indication in flight per connection: a second raises OSError(EALREADY)
#   until _IRQ_GATTS_INDICATE_DONE.
# - notifications are truncated to MTU-3; config(mtu=) is the MTU offered in exchanges.
# - security flags (_FLAG_READ_ENCRYPTED ...) are enforced by the stack (ATT errors),
#   bonding keys are fetched and stored through _IRQ_GET_SECRET / _IRQ_SET_SECRET.
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

_OP_HELLO = const(0x01)
_OP_ACTIVE = const(0x02)
_OP_CONFIG = const(0x03)
_OP_ADV = const(0x04)
_OP_REGISTER = const(0x05)
_OP_GWRITE = const(0x06)
_OP_NOTIFY = const(0x07)
_OP_INDICATE = const(0x08)
_OP_SETBUF = const(0x09)
_OP_DISCONNECT = const(0x0A)
_OP_PAIR = const(0x0B)
_OP_REPLY = const(0x0C)
_EV_OK = const(0x81)
_EV_HANDLES = const(0x85)
_EV_CONNECT = const(0x90)
_EV_DISCONNECT = const(0x91)
_EV_WRITE = const(0x92)
_EV_READREQ = const(0x93)
_EV_MTU = const(0x94)
_EV_ENC = const(0x95)
_EV_GETSECRET = const(0x96)
_EV_SETSECRET = const(0x97)
_EV_INDDONE = const(0x98)
_EV_TXDONE = const(0x99)

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

FLAG_READ = const(0x0002)
FLAG_WRITE_NO_RESPONSE = const(0x0004)
FLAG_WRITE = const(0x0008)
FLAG_NOTIFY = const(0x0010)
FLAG_INDICATE = const(0x0020)

_ENOMEM = const(12)
_EALREADY = const(114)
_ENOTCONN = const(107)
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
        self._name = "MPY BTSTACK"
        self._addr = bytes(6)
        self._attrs = {}
        self._slots = _env_int("SPASMTRACK_SIM_TXBUF", 12)
        self._inflight = {}     # conn -> notifications sent (written by gatts_notify)
        self._txdone = {}       # conn -> completions (written by the TXDONE event)
        self._indicating = {}
        self._events = []
        self._busy = False
        self._hdr = bytearray(2)
        self._poller = None
        self._lock = _thread.allocate_lock()
        self._service_ref = self._service
        mac = os.getenv("SPASMTRACK_SIM_MAC") or "F0:5A:5A:00:00:01"
        self._addr = bytes(int(x, 16) for x in mac.split(":"))

    # -- transport ---------------------------------------------------------------------
    def _connect(self):
        addr = os.getenv("SPASMTRACK_BLE_BRIDGE")
        if not addr:
            raise OSError(19)  # ENODEV: no radio attached to this sim board
        host, port = addr.rsplit(":", 1)
        s = socket.socket()
        s.connect(socket.getaddrinfo(host, int(port))[0][-1])
        self._sock = s
        self._poller = select.poll()
        self._poller.register(s, select.POLLIN)
        self._send(_OP_HELLO, self._addr + self._name.encode())
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

    def _send(self, op, payload=b""):
        s = self._sock
        if s is None:
            raise OSError(_ENOTCONN)
        s.write(struct.pack("<HB", len(payload) + 1, op) + payload)  # one write: atomic

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

    def _call(self, op, payload, want):
        # Synchronous request: events that arrive before the reply are kept in order
        # and delivered afterwards from the scheduler (never nested inside this call).
        self._busy = True
        try:
            self._send(op, payload)
            while True:
                ev, p = self._read_frame()
                if ev == want:
                    return p
                if ev == _EV_GETSECRET or ev == _EV_SETSECRET or ev == _EV_READREQ:
                    self._dispatch(ev, p)  # the stack waits for these answers
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
        if ev == _EV_CONNECT or ev == _EV_DISCONNECT:
            conn, at = struct.unpack_from("<HB", p)
            addr = memoryview(p[3:9])
            if ev == _EV_CONNECT:
                self._txdone[conn] = 0
                self._inflight[conn] = 0
                self._irq(_IRQ_CENTRAL_CONNECT, (conn, at, addr))
            else:
                self._inflight.pop(conn, None)
                self._txdone.pop(conn, None)
                self._indicating.pop(conn, None)
                self._irq(_IRQ_CENTRAL_DISCONNECT, (conn, at, addr))
        elif ev == _EV_WRITE:
            conn, handle = struct.unpack_from("<HH", p)
            a = self._attrs.get(handle)
            if a is not None:
                a.value = p[4:]
            self._irq(_IRQ_GATTS_WRITE, (conn, handle))
        elif ev == _EV_READREQ:
            req, conn, handle = struct.unpack_from("<HHH", p)
            rc = self._irq(_IRQ_GATTS_READ_REQUEST, (conn, handle)) or 0
            self._send(_OP_REPLY, struct.pack("<HB", req, rc))
        elif ev == _EV_MTU:
            conn, mtu = struct.unpack_from("<HH", p)
            self._irq(_IRQ_MTU_EXCHANGED, (conn, mtu))
        elif ev == _EV_ENC:
            conn, enc, auth, bonded, ks = struct.unpack_from("<HBBBB", p)
            self._irq(_IRQ_ENCRYPTION_UPDATE, (conn, bool(enc), bool(auth), bool(bonded), ks))
        elif ev == _EV_GETSECRET:
            req, st, index = struct.unpack_from("<HBH", p)
            key = p[5:]
            v = self._irq(_IRQ_GET_SECRET, (st, index, memoryview(key) if key else None))
            self._send(_OP_REPLY, struct.pack("<H", req) + (bytes(v) if v else b""))
        elif ev == _EV_SETSECRET:
            req, st, klen = struct.unpack_from("<HBB", p)
            key = p[4:4 + klen]
            value = p[4 + klen:]
            ok = self._irq(_IRQ_SET_SECRET, (st, memoryview(key), memoryview(value) if value else None))
            self._send(_OP_REPLY, struct.pack("<HB", req, 1 if ok else 0))
        elif ev == _EV_INDDONE:
            conn, handle, status = struct.unpack_from("<HHB", p)
            self._indicating[conn] = False
            self._irq(_IRQ_GATTS_INDICATE_DONE, (conn, handle, status))
        elif ev == _EV_TXDONE:
            conn, n = struct.unpack_from("<HH", p)
            if conn in self._txdone:
                self._txdone[conn] += n

    # -- public API -------------------------------------------------------------------
    def active(self, *args):
        if not args:
            return self._active
        on = bool(args[0])
        if on and not self._active:
            if self._sock is None:
                self._connect()
            p = self._call(_OP_ACTIVE, b"\x01", _EV_OK)
            if len(p) == 6:
                self._addr = bytes(p)
            self._active = True
        elif not on and self._active:
            self._call(_OP_ACTIVE, b"\x00", _EV_OK)
            self._active = False
            self._inflight.clear()
            self._txdone.clear()
        return self._active

    def _send_config(self):
        if self._sock is not None:
            self._send(_OP_CONFIG, struct.pack("<HBBBB", self._mtu, self._io, self._bond,
                                               self._mitm, self._le_secure) + self._name.encode())

    def config(self, *args, **kw):
        if args:
            k = args[0]
            if k == "mac":
                return (1, self._addr)  # random static address
            if k == "gap_name":
                return self._name.encode()
            if k == "mtu":
                return self._mtu
            if k in ("io", "bond", "mitm", "le_secure"):
                return getattr(self, "_" + k)
            raise ValueError("unknown config param")
        for k, v in kw.items():
            if k == "mtu":
                if not 23 <= v <= 517:
                    raise ValueError("mtu out of range")
                self._mtu = v
            elif k == "gap_name":
                self._name = v.decode() if isinstance(v, (bytes, bytearray)) else str(v)
            elif k == "io":
                self._io = int(v)
            elif k in ("bond", "mitm", "le_secure"):
                setattr(self, "_" + k, bool(v))
            elif k in ("rxbuf", "addr_mode"):
                pass
            else:
                raise ValueError("unknown config param")
        self._send_config()

    def irq(self, handler):
        self._handler = handler

    def _need_active(self):
        if not self._active:
            raise OSError(_ENOTCONN)

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need_active()
        adv = bytes(adv_data or b"")
        resp = bytes(resp_data or b"")
        if len(adv) > 31 or len(resp) > 31:
            raise OSError(22)  # EINVAL: legacy advertising payload too long
        iv = 0 if interval_us is None else max(1, int(interval_us))
        self._send(_OP_ADV, struct.pack("<IBB", iv, 1 if connectable else 0, len(adv)) + adv + resp)

    def gap_disconnect(self, conn_handle):
        self._need_active()
        if conn_handle not in self._inflight:
            return False
        self._send(_OP_DISCONNECT, struct.pack("<H", conn_handle))
        return True

    def gap_pair(self, conn_handle):
        self._need_active()
        self._send(_OP_PAIR, struct.pack("<H", conn_handle))

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
        p = self._call(_OP_REGISTER, bytes(blob), _EV_HANDLES)
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
        self._send(_OP_GWRITE, struct.pack("<HB", value_handle, 1 if send_update else 0) + a.value)

    def gatts_set_buffer(self, value_handle, length, append=False):
        a = self._attr(value_handle)
        a.buf = int(length)
        a.append = bool(append)
        self._send(_OP_SETBUF, struct.pack("<HHB", value_handle, a.buf, 1 if append else 0))

    def gatts_notify(self, conn_handle, value_handle, data=None):
        self._need_active()
        n = self._inflight.get(conn_handle)
        done = self._txdone.get(conn_handle)
        if n is None or done is None:
            raise OSError(_ENOTCONN)
        if n - done >= self._slots:
            raise OSError(_ENOMEM)
        v = self._attr(value_handle).value if data is None else data
        self._inflight[conn_handle] = n + 1
        self._send(_OP_NOTIFY, struct.pack("<HH", conn_handle, value_handle) + bytes(v))

    def gatts_indicate(self, conn_handle, value_handle, data=None):
        self._need_active()
        if conn_handle not in self._inflight:
            raise OSError(_ENOTCONN)
        if self._indicating.get(conn_handle):
            raise OSError(_EALREADY)
        v = self._attr(value_handle).value if data is None else data
        self._indicating[conn_handle] = True
        self._send(_OP_INDICATE, struct.pack("<HH", conn_handle, value_handle) + bytes(v))
