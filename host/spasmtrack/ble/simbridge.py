"""Bridge between the sim board's MicroPython ``bluetooth`` module and a Bumble host stack.

MicroPython cannot run Bumble, so the sim board's ``bluetooth`` module
(``boards/sim/bluetooth.py``) sends its API calls as small binary frames over a TCP
socket on 127.0.0.1 to this bridge, which owns one Bumble ``Device`` per board (the
ESP32's NimBLE host) connected to the virtual radio over a real HCI transport. Events go
back the same way and become ``_IRQ_*`` callbacks on the board. When the board's socket
closes (the firmware crashed or the board rebooted), the bridge closes that HCI
transport, so the radio's watchdog ends the link like a supervision timeout.

Wire format, both directions: ``u16 length (LE) | u8 opcode | fields`` (see ``OP_*``).
The bridge keeps the attribute values (the board mirrors them), enforces the attribute
permissions the board registered (``_FLAG_READ_ENCRYPTED`` etc. -> ATT Insufficient
Encryption, as NimBLE does), truncates peer writes to the attribute buffer size
(20 bytes unless ``gatts_set_buffer``), grants transmit credits as the controller
completes packets (the board's bounded notify queue), asks the board for bond secrets
(``_IRQ_GET_SECRET``/``_IRQ_SET_SECRET``) and reports MTU and encryption changes.

A second kind of client, a *control* connection (:class:`BridgeControl`), lets tests
inject air faults: stall transmit completions for a while (a full stack buffer),
duplicate, reorder or corrupt the next notification.
"""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from bumble import hci, pairing
from bumble.att import ATT_Error, Attribute
from bumble.device import Connection, Device
from bumble.gatt import (
    GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR,
    Characteristic,
    CharacteristicValue,
    Descriptor,
    Service,
)
from bumble.keys import KeyStore, PairingKeys
from bumble.transport import open_transport

log = logging.getLogger(__name__)

# board -> bridge
OP_HELLO, OP_ACTIVE, OP_CONFIG, OP_ADV, OP_REGISTER = 0x01, 0x02, 0x03, 0x04, 0x05
OP_GWRITE, OP_NOTIFY, OP_INDICATE, OP_SETBUF, OP_DISCONNECT = 0x06, 0x07, 0x08, 0x09, 0x0A
OP_PAIR, OP_REPLY, OP_CONTROL = 0x0B, 0x0C, 0x0D
# bridge -> board
EV_OK, EV_HANDLES = 0x81, 0x85
EV_CONNECT, EV_DISCONNECT, EV_WRITE, EV_READREQ, EV_MTU = 0x90, 0x91, 0x92, 0x93, 0x94
EV_ENC, EV_GETSECRET, EV_SETSECRET, EV_INDDONE, EV_TXDONE = 0x95, 0x96, 0x97, 0x98, 0x99
# control ops (after OP_CONTROL)
CTL_STALL, CTL_DUP, CTL_SWAP, CTL_CORRUPT, CTL_DROP = 1, 2, 3, 4, 5

# MicroPython characteristic flags (docs: bluetooth.BLE.gatts_register_services)
F_READ, F_WRITE_NR, F_WRITE, F_NOTIFY, F_INDICATE = 0x0002, 0x0004, 0x0008, 0x0010, 0x0020
F_READ_ENC, F_READ_AUTHN, F_READ_AUTHZ = 0x0200, 0x0400, 0x0800
F_WRITE_ENC, F_WRITE_AUTHN = 0x1000, 0x2000

DEFAULT_BUFFER = 20     # NimBLE/MicroPython default attribute buffer (bytes)
SECRET_TYPE_BOND = 1    # sec_type used for Bumble's PairingKeys blobs


def frame(op: int, payload: bytes = b"") -> bytes:
    return struct.pack("<HB", len(payload) + 1, op) + payload


def _uuid_from_wire(raw: bytes) -> str:
    """MicroPython's UUID bytes (little-endian) -> Bumble UUID string."""
    if len(raw) == 2:
        return "%04X" % struct.unpack("<H", raw)[0]
    b = raw[::-1].hex()
    return f"{b[0:8]}-{b[8:12]}-{b[12:16]}-{b[16:20]}-{b[20:32]}".upper()


class BoardKeyStore(KeyStore):
    """Bumble key store whose storage is the firmware's (via _IRQ_GET/SET_SECRET)."""

    def __init__(self, board: "BoardSession") -> None:
        self.board = board

    async def get(self, name: str) -> PairingKeys | None:
        value = await self.board.ask_secret_get(SECRET_TYPE_BOND, 0, name.encode())
        if not value:
            return None
        return PairingKeys.from_dict(json.loads(value)["keys"])

    async def update(self, name: str, keys: PairingKeys) -> None:
        blob = json.dumps({"name": name, "keys": keys.to_dict()}).encode()
        await self.board.ask_secret_set(SECRET_TYPE_BOND, name.encode(), blob)

    async def delete(self, name: str) -> None:
        await self.board.ask_secret_set(SECRET_TYPE_BOND, name.encode(), b"")

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        out = []
        for index in range(64):
            value = await self.board.ask_secret_get(SECRET_TYPE_BOND, index, b"")
            if not value:
                break
            d = json.loads(value)
            out.append((d["name"], PairingKeys.from_dict(d["keys"])))
        return out

    async def delete_all(self) -> None:
        for name, _ in await self.get_all():
            await self.delete(name)


@dataclass
class _Attr:
    handle: int = 0
    flags: int = 0
    value: bytes = b""
    buf_len: int = DEFAULT_BUFFER
    append: bool = False
    bumble: Any = None          # Characteristic or Descriptor


@dataclass
class Faults:
    stall_until: float = 0.0
    dup: int = 0
    swap: int = 0
    corrupt: int = 0
    held: tuple | None = None


@dataclass(eq=False)
class BoardSession:
    server: "BridgeServer"
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    device: Device | None = None
    transport: Any = None
    attrs: dict[int, _Attr] = field(default_factory=dict)
    name: str = "spasmtrack"
    address: str = "F0:5A:5A:00:00:01"
    mtu: int = 23
    io: int = 3
    bond: bool = True
    mitm: bool = False
    le_secure: bool = True
    conns: dict[int, Connection] = field(default_factory=dict)
    replies: dict[int, asyncio.Future] = field(default_factory=dict)
    next_req: int = 1
    tx_marks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    pollers: set[int] = field(default_factory=set)

    # -- board I/O ---------------------------------------------------------------
    def send(self, op: int, payload: bytes = b"") -> None:
        if not self.writer.is_closing():
            self.writer.write(frame(op, payload))

    async def _ask(self, op: int, payload_after_id: bytes) -> bytes:
        req = self.next_req = (self.next_req % 0xFFFF) + 1
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.replies[req] = fut
        self.send(op, struct.pack("<H", req) + payload_after_id)
        try:
            return await asyncio.wait_for(fut, 10.0)
        finally:
            self.replies.pop(req, None)

    async def ask_secret_get(self, sec_type: int, index: int, key: bytes) -> bytes:
        return await self._ask(EV_GETSECRET, struct.pack("<BH", sec_type, index) + key)

    async def ask_secret_set(self, sec_type: int, key: bytes, value: bytes) -> bytes:
        return await self._ask(EV_SETSECRET, struct.pack("<BB", sec_type, len(key)) + key + value)

    # -- Bumble device -------------------------------------------------------------
    async def open_device(self) -> None:
        self.transport = await open_transport(self.server.hci_spec)
        dev = Device.with_hci(self.name, hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS),
                              self.transport.source, self.transport.sink)
        dev.keystore = BoardKeyStore(self)
        dev.pairing_config_factory = lambda _c: pairing.PairingConfig(
            sc=self.le_secure, mitm=self.mitm, bonding=self.bond,
            delegate=pairing.PairingDelegate(io_capability=self.io_capability()))
        dev.on("connection", self.on_connection)
        self.device = dev
        await dev.power_on()
        dev.gatt_server.max_mtu = self.mtu

    def io_capability(self) -> pairing.PairingDelegate.IoCapability:
        # MicroPython _IO_CAPABILITY_*: 0 display only, 1 display yes/no, 2 keyboard only,
        # 3 no input/output, 4 keyboard display (same numbering as SMP).
        return pairing.PairingDelegate.IoCapability(self.io)

    def on_connection(self, conn: Connection) -> None:
        self.conns[conn.handle] = conn
        addr = bytes(conn.peer_address)[::-1]
        self.send(EV_CONNECT, struct.pack("<HB", conn.handle, conn.peer_address.address_type) + addr)

        def on_disc(reason: int) -> None:
            self.conns.pop(conn.handle, None)
            self.tx_marks.pop(conn.handle, None)
            self.send(EV_DISCONNECT, struct.pack("<HB", conn.handle,
                                                 conn.peer_address.address_type) + addr)

        def on_mtu() -> None:
            self.send(EV_MTU, struct.pack("<HH", conn.handle, conn.att_mtu))

        def on_enc(*_a: Any) -> None:
            asyncio.ensure_future(self._report_encryption(conn))

        conn.on("disconnection", on_disc)
        conn.on("connection_att_mtu_update", on_mtu)
        conn.on("connection_encryption_change", on_enc)
        conn.on("pairing", lambda _keys: on_enc())
        queue = conn.data_packet_queue
        if queue is not None:
            queue.on("flow", lambda: self._credit(conn))

    async def _report_encryption(self, conn: Connection) -> None:
        bonded = False
        if conn.encryption and self.device is not None and self.device.keystore is not None:
            try:
                bonded = await self.device.keystore.get(str(conn.peer_address)) is not None
            except (asyncio.TimeoutError, ConnectionError):
                bonded = False
        self.send(EV_ENC, struct.pack("<HBBBB", conn.handle, 1 if conn.encryption else 0,
                                      1 if conn.authenticated else 0, 1 if bonded else 0,
                                      (conn.encryption_key_size or 16) if conn.encryption else 0))

    def _credit(self, conn: Connection) -> None:
        """Give the board back the transmit slots whose packets the controller completed."""
        marks = self.tx_marks.get(conn.handle)
        queue = conn.data_packet_queue
        if not marks or queue is None:
            return
        now = asyncio.get_running_loop().time()
        if now < self.faults.stall_until:
            asyncio.get_running_loop().call_later(self.faults.stall_until - now + 0.001,
                                                  self._credit, conn)
            return
        done = 0
        while marks and marks[0][0] <= queue.completed:
            done += marks.pop(0)[1]
        if done:
            self.send(EV_TXDONE, struct.pack("<HH", conn.handle, done))

    # -- GATT database -------------------------------------------------------------
    def register(self, blob: bytes) -> bytes:
        assert self.device is not None
        services = []
        order: list[_Attr] = []
        pos = 0
        n_services = blob[pos]; pos += 1
        for _ in range(n_services):
            ulen = blob[pos]; pos += 1
            s_uuid = _uuid_from_wire(blob[pos:pos + ulen]); pos += ulen
            n_chars = blob[pos]; pos += 1
            chars = []
            for _ in range(n_chars):
                ulen = blob[pos]; pos += 1
                c_uuid = _uuid_from_wire(blob[pos:pos + ulen]); pos += ulen
                flags, n_desc = struct.unpack_from("<HB", blob, pos); pos += 3
                attr = _Attr(flags=flags)
                order.append(attr)
                descs = []
                for _ in range(n_desc):
                    ulen = blob[pos]; pos += 1
                    d_uuid = _uuid_from_wire(blob[pos:pos + ulen]); pos += ulen
                    (dflags,) = struct.unpack_from("<H", blob, pos); pos += 2
                    dattr = _Attr(flags=dflags)
                    order.append(dattr)
                    d = Descriptor(d_uuid, self._permissions(dflags), self._value(dattr))
                    dattr.bumble = d
                    descs.append(d)
                props = Characteristic.Properties(0)
                for bit, prop in ((F_READ, Characteristic.Properties.READ),
                                  (F_WRITE_NR, Characteristic.Properties.WRITE_WITHOUT_RESPONSE),
                                  (F_WRITE, Characteristic.Properties.WRITE),
                                  (F_NOTIFY, Characteristic.Properties.NOTIFY),
                                  (F_INDICATE, Characteristic.Properties.INDICATE)):
                    if flags & bit:
                        props |= prop
                c = Characteristic(c_uuid, props, self._permissions(flags), self._value(attr),
                                   descriptors=descs)
                attr.bumble = c
                chars.append(c)
            services.append(Service(s_uuid, chars))
        for svc in services:
            self.device.add_service(svc)
        # Subscriptions to data that needs encryption need encryption too (NimBLE checks
        # the characteristic's security on CCCD writes the same way).
        server = self.device.gatt_server
        for attr in order:
            c = attr.bumble
            if isinstance(c, Characteristic) and attr.flags & (F_READ_ENC | F_READ_AUTHN):
                for a in server.attributes:
                    if (c.handle < a.handle <= c.end_group_handle
                            and a.type == GATT_CLIENT_CHARACTERISTIC_CONFIGURATION_DESCRIPTOR):
                        a.permissions = (Attribute.READABLE | Attribute.WRITEABLE
                                         | Attribute.WRITE_REQUIRES_ENCRYPTION)
        out = b""
        for attr in order:
            h = attr.bumble.handle
            attr.handle = h
            self.attrs[h] = attr
            out += struct.pack("<H", h)
        return out

    @staticmethod
    def _permissions(flags: int) -> Attribute.Permissions:
        p = Attribute.Permissions(0)
        if flags & (F_READ | F_READ_ENC | F_READ_AUTHN | F_READ_AUTHZ):
            p |= Attribute.READABLE
        if flags & (F_WRITE | F_WRITE_NR | F_WRITE_ENC | F_WRITE_AUTHN):
            p |= Attribute.WRITEABLE
        if flags & F_READ_ENC:
            p |= Attribute.READ_REQUIRES_ENCRYPTION
        if flags & F_READ_AUTHN:
            p |= Attribute.READ_REQUIRES_AUTHENTICATION
        if flags & F_WRITE_ENC:
            p |= Attribute.WRITE_REQUIRES_ENCRYPTION
        if flags & F_WRITE_AUTHN:
            p |= Attribute.WRITE_REQUIRES_AUTHENTICATION
        return p

    def _value(self, attr: _Attr) -> CharacteristicValue:
        async def read(conn: Connection) -> bytes:
            if attr.flags & F_READ_AUTHZ:
                rsp = await self._ask(EV_READREQ, struct.pack("<HH", conn.handle, attr.handle))
                code = rsp[0] if rsp else 0
                if code:
                    raise ATT_Error(code, attr.handle)
            return attr.value

        def write(conn: Connection, value: bytes) -> None:
            value = bytes(value)
            if attr.append:
                value = (attr.value + value)[:attr.buf_len]
            else:
                value = value[:attr.buf_len]
            attr.value = value
            self.send(EV_WRITE, struct.pack("<HH", conn.handle, attr.handle) + value)

        return CharacteristicValue(read=read, write=write)

    # -- board commands ----------------------------------------------------------------
    async def handle(self, op: int, p: bytes) -> None:
        if op == OP_HELLO:
            raw_addr = p[:6]
            self.address = ":".join("%02X" % b for b in raw_addr)
            self.name = p[6:].decode() or self.name
        elif op == OP_ACTIVE:
            if p[0] and self.device is None:
                await self.open_device()
                self.send(EV_OK, bytes(self.device.random_address)[::-1])
            elif not p[0]:
                await self.close_device()
                self.send(EV_OK, b"")
            else:
                self.send(EV_OK, bytes(self.device.random_address)[::-1])
        elif op == OP_CONFIG:
            self.mtu, self.io, bond, mitm, sc = struct.unpack_from("<HBBBB", p)
            self.bond, self.mitm, self.le_secure = bool(bond), bool(mitm), bool(sc)
            name = p[6:].decode()
            if name:
                self.name = name
            if self.device is not None:
                self.device.gatt_server.max_mtu = self.mtu
        elif op == OP_ADV:
            await self.advertise(p)
        elif op == OP_REGISTER:
            self.send(EV_HANDLES, self.register(p))
        elif op == OP_GWRITE:
            handle, update = struct.unpack_from("<HB", p)
            attr = self.attrs.get(handle)
            if attr is not None:
                attr.value = p[3:]
                if update and self.device is not None:
                    for conn in list(self.conns.values()):
                        await self.device.gatt_server.notify_subscriber(conn, attr.bumble, attr.value)
        elif op == OP_NOTIFY:
            conn_h, handle = struct.unpack_from("<HH", p)
            await self.notify(conn_h, handle, p[4:])
        elif op == OP_INDICATE:
            conn_h, handle = struct.unpack_from("<HH", p)
            asyncio.ensure_future(self.indicate(conn_h, handle, p[4:]))
        elif op == OP_SETBUF:
            handle, length, append = struct.unpack_from("<HHB", p)
            attr = self.attrs.get(handle)
            if attr is not None:
                attr.buf_len, attr.append = length, bool(append)
        elif op == OP_DISCONNECT:
            (conn_h,) = struct.unpack_from("<H", p)
            conn = self.conns.get(conn_h)
            if conn is not None:
                asyncio.ensure_future(conn.disconnect())
        elif op == OP_PAIR:
            (conn_h,) = struct.unpack_from("<H", p)
            conn = self.conns.get(conn_h)
            if conn is not None:
                conn.request_pairing()
        elif op == OP_REPLY:
            (req,) = struct.unpack_from("<H", p)
            fut = self.replies.get(req)
            if fut is not None and not fut.done():
                fut.set_result(p[2:])
        else:
            log.warning("board sent unknown opcode 0x%02X", op)

    async def advertise(self, p: bytes) -> None:
        assert self.device is not None
        interval_us, connectable, adv_len = struct.unpack_from("<IBB", p)
        adv = p[6:6 + adv_len]
        resp = p[6 + adv_len:]
        if self.device.is_advertising:
            await self.device.stop_advertising()
        if interval_us == 0:
            return
        from bumble.device import AdvertisingType
        kind = (AdvertisingType.UNDIRECTED_CONNECTABLE_SCANNABLE if connectable
                else AdvertisingType.UNDIRECTED_SCANNABLE)
        ms = max(20.0, interval_us / 1000.0)
        await self.device.start_advertising(advertising_type=kind, advertising_data=adv,
                                            scan_response_data=resp or None,
                                            advertising_interval_min=ms,
                                            advertising_interval_max=ms)

    async def notify(self, conn_h: int, handle: int, value: bytes) -> None:
        conn = self.conns.get(conn_h)
        attr = self.attrs.get(handle)
        if conn is None or attr is None or self.device is None:
            # The link is gone: the slot is released at once, like NimBLE freeing the mbuf.
            self.send(EV_TXDONE, struct.pack("<HH", conn_h, 1))
            return
        f = self.faults
        sends = [value]
        if f.corrupt and len(value) > 8:
            f.corrupt -= 1
            b = bytearray(value)
            b[len(b) // 2] ^= 0x5A
            sends = [bytes(b)]
        if f.dup:
            f.dup -= 1
            sends = sends * 2
        if f.swap and f.held is None:
            f.swap -= 1
            f.held = (conn, attr, sends)
            sends = []
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(
                self._flush_held()))
        elif f.held is not None and f.held[0] is conn:
            _, hattr, hsends = f.held
            f.held = None
            for v in sends:
                await self.device.gatt_server.notify_subscriber(conn, attr.bumble, v, True)
            attr, sends = hattr, hsends
        for v in sends:
            await self.device.gatt_server.notify_subscriber(conn, attr.bumble, v, True)
        queue = conn.data_packet_queue
        if queue is None:
            self.send(EV_TXDONE, struct.pack("<HH", conn_h, 1))
            return
        self.tx_marks.setdefault(conn_h, []).append((queue.queued, 1))
        self._credit(conn)
        if self.tx_marks.get(conn_h) and conn_h not in self.pollers:
            self.pollers.add(conn_h)
            asyncio.ensure_future(self._poll_credits(conn))

    async def _poll_credits(self, conn: Connection) -> None:
        # Backstop for the queue's 'flow' events: completions are also picked up here.
        try:
            while self.tx_marks.get(conn.handle) and conn.handle in self.conns:
                await asyncio.sleep(0.005)
                self._credit(conn)
        finally:
            self.pollers.discard(conn.handle)

    async def _flush_held(self) -> None:
        # a held (reordered) notification goes out late if nothing overtook it
        f = self.faults
        if f.held is not None and self.device is not None:
            conn, attr, sends = f.held
            f.held = None
            for v in sends:
                await self.device.gatt_server.notify_subscriber(conn, attr.bumble, v, True)

    async def indicate(self, conn_h: int, handle: int, value: bytes) -> None:
        conn = self.conns.get(conn_h)
        attr = self.attrs.get(handle)
        status = 0
        if conn is None or attr is None or self.device is None:
            status = 1
        else:
            try:
                await self.device.gatt_server.indicate_subscriber(conn, attr.bumble, value, True)
            except Exception as exc:  # noqa: BLE001 - timeout or link loss: report failure
                log.info("indication failed: %r", exc)
                status = 1
        self.send(EV_INDDONE, struct.pack("<HHB", conn_h, handle, status))

    async def close_device(self) -> None:
        if self.transport is not None:
            try:
                await self.transport.close()
            except Exception:  # noqa: BLE001
                pass
        self.transport = None
        self.device = None
        self.conns.clear()

    async def _worker(self, queue: asyncio.Queue) -> None:
        # Board commands are executed strictly in order (notifications keep their order).
        while True:
            op, body = await queue.get()
            try:
                await self.handle(op, body)
            except Exception:  # noqa: BLE001 - keep the board alive, log the bug
                log.exception("bridge failed handling opcode 0x%02X", op)

    async def run(self) -> None:
        queue: asyncio.Queue = asyncio.Queue()
        worker = asyncio.ensure_future(self._worker(queue))
        try:
            while True:
                hdr = await self.reader.readexactly(2)
                (n,) = struct.unpack("<H", hdr)
                body = await self.reader.readexactly(n)
                op = body[0]
                if op == OP_CONTROL:
                    self.server.control(body[1:])
                elif op == OP_REPLY:
                    await self.handle(op, body[1:])   # answers must not wait behind commands
                else:
                    self.server.boards.add(self)
                    queue.put_nowait((op, body[1:]))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            worker.cancel()
            self.server.boards.discard(self)
            for fut in self.replies.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("board gone"))
            await self.close_device()
            self.writer.close()


class BridgeServer:
    """Accepts sim boards (and control clients) on 127.0.0.1."""

    def __init__(self, hci_spec: str) -> None:
        self.hci_spec = hci_spec
        self.boards: set[BoardSession] = set()
        self.server: asyncio.AbstractServer | None = None

    async def serve(self, port: int = 0) -> int:
        async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await BoardSession(self, r, w).run()

        self.server = await asyncio.start_server(on_client, "127.0.0.1", port)
        return self.server.sockets[0].getsockname()[1]

    def control(self, p: bytes) -> None:
        kind, arg = struct.unpack_from("<BI", p)
        loop = asyncio.get_running_loop()
        for board in self.boards:
            f = board.faults
            if kind == CTL_STALL:
                f.stall_until = loop.time() + arg / 1000.0
            elif kind == CTL_DUP:
                f.dup += arg
            elif kind == CTL_SWAP:
                f.swap += arg
            elif kind == CTL_CORRUPT:
                f.corrupt += arg
            elif kind == CTL_DROP:
                for conn in list(board.conns.values()):
                    # the link is lost (reported to both sides as a connection timeout)
                    asyncio.ensure_future(conn.disconnect(hci.HCI_CONNECTION_TIMEOUT_ERROR))


class BridgeControl:
    """Test-side client that injects air faults into every board on the bridge."""

    def __init__(self, addr: str) -> None:
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))

    def _send(self, kind: int, arg: int) -> None:
        self.sock.sendall(frame(OP_CONTROL, struct.pack("<BI", kind, arg)))

    def stall(self, seconds: float) -> None:
        """Withhold transmit completions: the board's notify queue stays full."""
        self._send(CTL_STALL, int(seconds * 1000))

    def duplicate_next(self, n: int = 1) -> None:
        self._send(CTL_DUP, n)

    def swap_next(self, n: int = 1) -> None:
        self._send(CTL_SWAP, n)

    def corrupt_next(self, n: int = 1) -> None:
        self._send(CTL_CORRUPT, n)

    def drop_links(self) -> None:
        """End every board's connections now, as a lost link."""
        self._send(CTL_DROP, 0)

    def close(self) -> None:
        self.sock.close()
