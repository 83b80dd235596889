"""Bridge between the sim board's MicroPython ``bluetooth`` module and a Bumble host stack.

MicroPython cannot run Bumble, so the sim board's ``bluetooth`` module
(``boards/sim/bluetooth.py``) sends its API calls as small binary frames over a TCP
socket on 127.0.0.1 to this bridge, which owns one Bumble ``Device`` per board (the
ESP32's NimBLE host) connected to the virtual radio over a real HCI transport. Events go
back the same way and become ``_IRQ_*`` callbacks on the board. When the board's socket
closes (the firmware crashed or the board rebooted), the bridge closes that HCI
transport, so the radio's watchdog ends the link like a supervision timeout.

Wire format: ``boards/sim/simwire.py``, the one definition both sides load. The bridge
keeps the attribute values (the board mirrors them) and behaves like MicroPython's NimBLE
binding where the firmware can tell (see ``boards/sim/bluetooth.py`` for the list and
``tests/test_ble_nimble.py`` for a test per point): attribute security is checked with
NimBLE's answer (ATT 0x05 Insufficient Authentication), subscriptions (CCCD writes) are
accepted on any link, a peer's write is refused with ATT 0x11 while the board's share of
the buffer pool is full of notifications, peer writes are truncated to the attribute
buffer (20 bytes unless ``gatts_set_buffer``), transmit buffers are given back as the
controller completes packets, the identity key and bonds live in the firmware's store
through ``_IRQ_GET_SECRET``/``_IRQ_SET_SECRET`` in NimBLE's shapes (sec_type 10 for the
IRK at activation, 1 and 2 with 7-byte address keys and 80-byte values), the encryption
change is reported once pairing has ended (authenticated only for a MITM-protected
method, bonded only when the firmware kept the keys), and a passkey is asked from the
firmware with ``_IRQ_PASSKEY_ACTION``.

A second kind of client, a *control* connection (:class:`BridgeControl`), lets tests
inject air faults: stall transmit completions for a while (a full stack buffer),
duplicate, reorder or corrupt the next notification.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from bumble import hci, pairing
from bumble.att import ATT_Error, Attribute
from bumble.device import Connection, Device
from bumble.gatt import (
    Characteristic,
    CharacteristicValue,
    Descriptor,
    Service,
)
from bumble.keys import KeyStore, PairingKeys
from bumble.transport import open_transport

from .. import firmware

log = logging.getLogger(__name__)

#: The sim wire, defined once in boards/sim/simwire.py (loaded by the board too).
W = firmware.board_module("sim", "simwire")
frame = W.pack

# MicroPython characteristic flags (docs: bluetooth.BLE.gatts_register_services)
F_READ, F_WRITE_NR, F_WRITE, F_NOTIFY, F_INDICATE = 0x0002, 0x0004, 0x0008, 0x0010, 0x0020
F_READ_ENC, F_READ_AUTHN, F_READ_AUTHZ = 0x0200, 0x0400, 0x0800
F_WRITE_ENC, F_WRITE_AUTHN = 0x1000, 0x2000

DEFAULT_BUFFER = 20     # NimBLE/MicroPython default attribute buffer (bytes)
#: ATT errors NimBLE answers with (ble_att_svr_check_perms, ble_att_svr_rx_write).
ATT_INSUFFICIENT_AUTHENTICATION = 0x05
ATT_INSUFFICIENT_RESOURCES = 0x11
ADDR_MODE_RPA = 2


def _uuid_from_wire(raw: bytes) -> str:
    """MicroPython's UUID bytes (little-endian) -> Bumble UUID string."""
    if len(raw) == 2:
        return "%04X" % struct.unpack("<H", raw)[0]
    b = raw[::-1].hex()
    return f"{b[0:8]}-{b[8:12]}-{b[12:16]}-{b[16:20]}-{b[20:32]}".upper()


def secret_key(address: hci.Address) -> bytes:
    """NimBLE's ble_addr_t for an address: type u8 | 6 bytes least significant first."""
    return bytes((int(address.address_type) & 1,)) + bytes(address)


def address_from_key(key: bytes) -> hci.Address:
    return hci.Address(bytes(key[1:7]), hci.AddressType(key[0]))


def sec_value(address: hci.Address, keys: PairingKeys) -> bytes:
    """PairingKeys -> NimBLE's 80-byte struct ble_store_value_sec."""
    ltk = keys.ltk or keys.ltk_peripheral or keys.ltk_central
    flags = 0
    if ltk is not None and ltk.authenticated:
        flags |= W.SEC_FLAG_AUTHENTICATED
    if keys.ltk is not None:
        flags |= W.SEC_FLAG_SC
    if keys.csrk is not None:
        flags |= W.SEC_FLAG_CSRK
    rand = int.from_bytes(ltk.rand or bytes(8), "little") if ltk is not None else 0
    return struct.pack(W.SEC_VALUE_FMT, secret_key(address), 16,
                       (ltk.ediv or 0) if ltk is not None else 0, rand,
                       ltk.value if ltk is not None else bytes(16), 1 if ltk is not None else 0,
                       keys.irk.value if keys.irk is not None else bytes(16),
                       1 if keys.irk is not None else 0,
                       keys.csrk.value if keys.csrk is not None else bytes(16), flags)


def keys_from_sec_value(value: bytes) -> tuple[hci.Address, PairingKeys, bool]:
    """NimBLE's 80-byte value -> (peer identity address, PairingKeys, authenticated)."""
    (addr, _ks, ediv, rand, ltk, ltk_p, irk, irk_p, csrk, flags) = struct.unpack(
        W.SEC_VALUE_FMT, value)
    auth = bool(flags & W.SEC_FLAG_AUTHENTICATED)
    address = address_from_key(addr)
    k = PairingKeys(address_type=hci.AddressType(address.address_type))
    if ltk_p:
        key = PairingKeys.Key(value=ltk, authenticated=auth)
        if flags & W.SEC_FLAG_SC:
            k.ltk = key
        else:
            key.ediv, key.rand = ediv, rand.to_bytes(8, "little")
            k.ltk_peripheral = key
    if irk_p:
        k.irk = PairingKeys.Key(value=irk, authenticated=auth)
    if flags & W.SEC_FLAG_CSRK:
        k.csrk = PairingKeys.Key(value=csrk, authenticated=auth)
    return address, k, auth


class BoardKeyStore(KeyStore):
    """Bumble key store whose storage is the firmware's, through _IRQ_GET/SET_SECRET in
    NimBLE's shapes (ble_secret_store_read/write/delete): sec_type 2 (peer) and 1 (our),
    7-byte address keys, 80-byte values; a lookup without key iterates by index."""

    def __init__(self, board: "BoardSession") -> None:
        self.board = board

    async def get(self, name: str) -> PairingKeys | None:
        value = await self.board.ask_secret_get(W.SECRET_PEER_SEC, 0,
                                                secret_key(hci.Address(name)))
        if len(value) != W.SEC_VALUE_LEN:   # NimBLE: BLE_HS_ENOENT for a wrong size too
            return None
        return keys_from_sec_value(value)[1]

    async def update(self, name: str, keys: PairingKeys) -> None:
        address = hci.Address(name)
        if keys.address_type is not None:
            address = hci.Address(bytes(address), keys.address_type)
        blob = sec_value(address, keys)
        key = secret_key(address)
        ok = await self.board.ask_secret_set(W.SECRET_PEER_SEC, key, blob) == b"\x01"
        ok = ok and await self.board.ask_secret_set(W.SECRET_OUR_SEC, key, blob) == b"\x01"
        self.board.stored[str(address)] = ok      # BLE_HS_ESTORE_CAP: encrypted, not bonded

    async def delete(self, name: str) -> None:
        key = secret_key(hci.Address(name))
        await self.board.ask_secret_set(W.SECRET_PEER_SEC, key, b"")
        await self.board.ask_secret_set(W.SECRET_OUR_SEC, key, b"")

    async def get_all(self) -> list[tuple[str, PairingKeys]]:
        out = []
        for index in range(64):
            value = await self.board.ask_secret_get(W.SECRET_PEER_SEC, index, b"")
            if len(value) != W.SEC_VALUE_LEN:
                break
            address, keys, _auth = keys_from_sec_value(value)
            out.append((str(address), keys))
        return out

    async def delete_all(self) -> None:
        for name, _ in await self.get_all():
            await self.delete(name)


class BoardPairingDelegate(pairing.PairingDelegate):
    """The board's side of pairing: a passkey to display is asked from the firmware with
    _IRQ_PASSKEY_ACTION and comes back through gap_passkey() (ble_sm_inject_io)."""

    def __init__(self, board: "BoardSession", conn: Connection, io: int) -> None:
        super().__init__(io_capability=pairing.PairingDelegate.IoCapability(io))
        self.board = board
        self.conn = conn

    async def generate_passkey(self) -> int:
        return await self.board.ask_passkey(self.conn, W.PASSKEY_ACTION_DISPLAY)

    async def compare_numbers(self, number: int, digits: int) -> bool:
        return bool(await self.board.ask_passkey(self.conn, W.PASSKEY_ACTION_NUMERIC_COMPARISON,
                                                 number))

    async def get_number(self) -> int | None:
        return await self.board.ask_passkey(self.conn, W.PASSKEY_ACTION_INPUT)


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
    tx_slots: int = 12          # the board's share of NimBLE's buffer pool
    mtu: int = 23
    io: int = 3
    bond: bool = True
    mitm: bool = False
    le_secure: bool = True
    addr_mode: int = 1
    irk: bytes = b""
    conns: dict[int, Connection] = field(default_factory=dict)
    replies: dict[int, asyncio.Future] = field(default_factory=dict)
    next_req: int = 1
    tx_marks: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    pollers: set[int] = field(default_factory=set)
    pairing: set[int] = field(default_factory=set)        # conns pairing now
    stored: dict[str, bool] = field(default_factory=dict)  # bond accepted by the firmware
    passkeys: dict[int, asyncio.Future] = field(default_factory=dict)
    refused_writes: int = 0     # ATT 0x11 answers (pool empty)
    held_buffers: int = 0       # notifications the board sent whose buffers are not back
    auth: dict[int, bool] = field(default_factory=dict)     # link authenticated (MITM)

    # -- board I/O ---------------------------------------------------------------
    def send(self, op: int, *fields: Any, tail: bytes = b"") -> None:
        if not self.writer.is_closing():
            self.writer.write(W.pack(op, *fields, tail=tail))

    async def _ask(self, op: int, *fields: Any, tail: bytes = b"") -> bytes:
        req = self.next_req = (self.next_req % 0xFFFF) + 1
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.replies[req] = fut
        self.send(op, req, *fields, tail=tail)
        try:
            return await asyncio.wait_for(fut, 10.0)
        finally:
            self.replies.pop(req, None)

    async def ask_secret_get(self, sec_type: int, index: int, key: bytes) -> bytes:
        return await self._ask(W.EV_GETSECRET, sec_type, index, tail=key)

    async def ask_secret_set(self, sec_type: int, key: bytes, value: bytes) -> bytes:
        return await self._ask(W.EV_SETSECRET, sec_type, len(key), tail=key + value)

    async def ask_passkey(self, conn: Connection, action: int, number: int = 0) -> int:
        """_IRQ_PASSKEY_ACTION to the board; its gap_passkey() answers (no answer: the
        pairing waits until the link ends, as NimBLE's security manager does)."""
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.passkeys[conn.handle] = fut
        self.send(W.EV_PASSKEY, conn.handle, action, number)
        try:
            return int(await fut)
        finally:
            self.passkeys.pop(conn.handle, None)

    def pool_empty(self) -> bool:
        """NimBLE's buffer pool has nothing left: every slot holds a notification (counted
        from the moment the board sent it until its buffer is given back)."""
        return self.held_buffers >= self.tx_slots

    def give_back(self, conn_h: int, n: int) -> None:
        self.held_buffers = max(0, self.held_buffers - n)
        self.send(W.EV_TXDONE, conn_h, n)

    # -- Bumble device -------------------------------------------------------------
    async def load_irk(self) -> bytes:
        """load_irk(): the identity key from the board's store, or a new one saved there."""
        irk = await self.ask_secret_get(W.SECRET_OUR_IRK, 0, W.SECRET_IRK_KEY)
        if len(irk) != 16:
            irk = os.urandom(16)
            await self.ask_secret_set(W.SECRET_OUR_IRK, W.SECRET_IRK_KEY, irk)
        return irk

    async def open_device(self) -> None:
        self.irk = await self.load_irk()
        self.transport = await open_transport(self.server.hci_spec)
        dev = Device.with_hci(self.name, hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS),
                              self.transport.source, self.transport.sink)
        dev.irk = self.irk
        dev.keystore = BoardKeyStore(self)
        dev.pairing_config_factory = lambda c: pairing.PairingConfig(
            sc=self.le_secure, mitm=self.mitm, bonding=self.bond,
            identity_address_type=pairing.PairingConfig.AddressType.RANDOM,
            delegate=BoardPairingDelegate(self, c, self.io))
        dev.on("connection", self.on_connection)
        self.device = dev
        await dev.power_on()
        dev.gatt_server.max_mtu = self.mtu

    async def set_address_mode(self, mode: int) -> None:
        """addr_mode 2 (RPA): advertise a resolvable private address from the IRK."""
        self.addr_mode = mode
        dev = self.device
        if dev is None:
            return
        if mode == ADDR_MODE_RPA:
            dev.le_privacy_enabled = True
            addr = hci.Address.generate_private_address(self.irk)
        else:
            dev.le_privacy_enabled = False
            addr = hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS)
        was = dev.is_advertising
        if was:
            await dev.stop_advertising()
        await dev.send_command(hci.HCI_LE_Set_Random_Address_Command(random_address=addr))
        dev.random_address = addr

    def on_connection(self, conn: Connection) -> None:
        self.conns[conn.handle] = conn
        addr = bytes(conn.peer_address)[::-1]
        self.send(W.EV_CONNECT, conn.handle, conn.peer_address.address_type, addr)

        def on_disc(reason: int) -> None:
            self.conns.pop(conn.handle, None)
            marks = self.tx_marks.pop(conn.handle, None) or []
            self.held_buffers = max(0, self.held_buffers - sum(n for _, n in marks))
            self.auth.pop(conn.handle, None)
            self.pairing.discard(conn.handle)
            fut = self.passkeys.pop(conn.handle, None)
            if fut is not None and not fut.done():
                fut.cancel()
            self.send(W.EV_DISCONNECT, conn.handle, conn.peer_address.address_type, addr)

        def on_mtu() -> None:
            self.send(W.EV_MTU, conn.handle, conn.att_mtu)

        def on_enc(*_a: Any) -> None:
            if conn.handle not in self.pairing:     # re-encryption with a stored bond
                asyncio.ensure_future(self._report_restored(conn))

        def on_pairing_start(*_a: Any) -> None:
            self.pairing.add(conn.handle)

        def on_pairing(keys: PairingKeys) -> None:
            # NimBLE reports the encryption change at the END of pairing, after the bond
            # was (or could not be) persisted (ble_sm_process_result -> ble_gap_enc_event)
            self.pairing.discard(conn.handle)
            ltk = keys.ltk or keys.ltk_peripheral or keys.ltk_central
            auth = bool(ltk is not None and ltk.authenticated)
            bonded = self.stored.pop(str(conn.peer_address), False)
            self._report(conn, auth, bonded)

        def on_pairing_failure(*_a: Any) -> None:
            self.pairing.discard(conn.handle)

        conn.on("disconnection", on_disc)
        conn.on("connection_att_mtu_update", on_mtu)
        conn.on("connection_encryption_change", on_enc)
        conn.on("pairing_start", on_pairing_start)
        conn.on("pairing", on_pairing)
        conn.on("pairing_failure", on_pairing_failure)
        queue = conn.data_packet_queue
        if queue is not None:
            queue.on("flow", lambda: self._credit(conn))

    def _report(self, conn: Connection, auth: bool, bonded: bool) -> None:
        enc = 1 if conn.encryption else 0
        self.auth[conn.handle] = bool(enc and auth)
        self.send(W.EV_ENC, conn.handle, enc, 1 if (enc and auth) else 0,
                  1 if (enc and bonded) else 0, (conn.encryption_key_size or 16) if enc else 0)

    async def _report_restored(self, conn: Connection) -> None:
        auth = bonded = False
        if conn.encryption:
            try:
                value = await self.ask_secret_get(W.SECRET_PEER_SEC, 0,
                                                  secret_key(conn.peer_address))
            except (asyncio.TimeoutError, ConnectionError):
                value = b""
            if len(value) == W.SEC_VALUE_LEN:
                bonded = True
                auth = keys_from_sec_value(value)[2]
        self._report(conn, auth, bonded)

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
            self.give_back(conn.handle, done)

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
        # CCCDs (subscriptions) stay open on any link, as in NimBLE: the client
        # configuration descriptor has no security of its own there.
        out = b""
        for attr in order:
            h = attr.bumble.handle
            attr.handle = h
            self.attrs[h] = attr
            out += struct.pack("<H", h)
        return out

    @staticmethod
    def _permissions(flags: int) -> Attribute.Permissions:
        # security is checked in _value (NimBLE's codes), not by Bumble's permissions
        p = Attribute.Permissions(0)
        if flags & (F_READ | F_READ_ENC | F_READ_AUTHN | F_READ_AUTHZ):
            p |= Attribute.READABLE
        if flags & (F_WRITE | F_WRITE_NR | F_WRITE_ENC | F_WRITE_AUTHN):
            p |= Attribute.WRITEABLE
        return p

    def _check(self, conn: Connection, attr: _Attr, enc_flag: int, authn_flag: int) -> None:
        """ble_att_svr_check_perms: encryption or authentication required and missing ->
        ATT 0x05 Insufficient Authentication."""
        need_enc = attr.flags & (enc_flag | authn_flag)
        if need_enc and not conn.encryption:
            raise ATT_Error(ATT_INSUFFICIENT_AUTHENTICATION, attr.handle)
        if attr.flags & authn_flag and not self.auth_of(conn):
            raise ATT_Error(ATT_INSUFFICIENT_AUTHENTICATION, attr.handle)

    def auth_of(self, conn: Connection) -> bool:
        return self.auth.get(conn.handle, False)

    def _value(self, attr: _Attr) -> CharacteristicValue:
        async def read(conn: Connection) -> bytes:
            self._check(conn, attr, F_READ_ENC, F_READ_AUTHN)
            if attr.flags & F_READ_AUTHZ:
                rsp = await self._ask(W.EV_READREQ, conn.handle, attr.handle)
                code = rsp[0] if rsp else 0
                if code:
                    raise ATT_Error(code, attr.handle)
            return attr.value

        def write(conn: Connection, value: bytes) -> None:
            self._check(conn, attr, F_WRITE_ENC, F_WRITE_AUTHN)
            if self.pool_empty():
                # the response needs a buffer the notify loop holds: refused before the
                # access callback runs, the firmware never sees this write
                self.refused_writes += 1
                raise ATT_Error(ATT_INSUFFICIENT_RESOURCES, attr.handle)
            value = bytes(value)
            if attr.append:
                value = (attr.value + value)[:attr.buf_len]
            else:
                value = value[:attr.buf_len]
            attr.value = value
            self.send(W.EV_WRITE, conn.handle, attr.handle, tail=value)

        return CharacteristicValue(read=read, write=write)

    # -- board commands ----------------------------------------------------------------
    async def handle(self, op: int, p: bytes) -> None:
        f, tail = W.unpack(op, p)
        if op == W.OP_HELLO:
            raw_addr, self.tx_slots = f
            self.address = ":".join("%02X" % b for b in raw_addr)
            self.name = tail.decode() or self.name
        elif op == W.OP_ACTIVE:
            if f[0] and self.device is None:
                await self.open_device()
            elif not f[0]:
                await self.close_device()
                self.send(W.EV_OK)
                return
            assert self.device is not None
            self.send(W.EV_OK, tail=bytes(hci.Address(self.address))[::-1])
        elif op == W.OP_CONFIG:
            self.mtu, self.io, bond, mitm, sc, addr_mode = f
            self.bond, self.mitm, self.le_secure = bool(bond), bool(mitm), bool(sc)
            if tail:
                self.name = tail.decode()
            if self.device is not None:
                self.device.gatt_server.max_mtu = self.mtu
                self.device.name = self.name
                if addr_mode != self.addr_mode:
                    await self.set_address_mode(addr_mode)
            self.addr_mode = addr_mode
        elif op == W.OP_ADV:
            await self.advertise(f, tail)
        elif op == W.OP_REGISTER:
            self.send(W.EV_HANDLES, tail=self.register(tail))
        elif op == W.OP_GWRITE:
            handle, update = f
            attr = self.attrs.get(handle)
            if attr is not None:
                attr.value = tail
                if update and self.device is not None:
                    for conn in list(self.conns.values()):
                        await self.device.gatt_server.notify_subscriber(conn, attr.bumble, attr.value)
        elif op == W.OP_NOTIFY:
            await self.notify(f[0], f[1], tail)
        elif op == W.OP_INDICATE:
            asyncio.ensure_future(self.indicate(f[0], f[1], tail))
        elif op == W.OP_SETBUF:
            handle, length, append = f
            attr = self.attrs.get(handle)
            if attr is not None:
                attr.buf_len, attr.append = length, bool(append)
        elif op == W.OP_DISCONNECT:
            conn = self.conns.get(f[0])
            if conn is not None:
                asyncio.ensure_future(conn.disconnect())
        elif op == W.OP_PAIR:
            conn = self.conns.get(f[0])
            if conn is not None:
                conn.request_pairing()
        elif op == W.OP_PASSKEY:
            conn_h, _action, passkey = f
            fut = self.passkeys.get(conn_h)
            if fut is not None and not fut.done():
                fut.set_result(passkey)
        elif op == W.OP_REPLY:
            fut = self.replies.get(f[0])
            if fut is not None and not fut.done():
                fut.set_result(tail)
        else:
            log.warning("board sent unknown opcode 0x%02X", op)

    async def advertise(self, f: tuple, tail: bytes) -> None:
        assert self.device is not None
        interval_us, connectable, adv_len = f
        adv = tail[:adv_len]
        resp = tail[adv_len:]
        if self.device.is_advertising:
            await self.device.stop_advertising()
        if interval_us == 0:
            return
        if self.addr_mode == ADDR_MODE_RPA:
            await self.set_address_mode(ADDR_MODE_RPA)   # a new private address each time
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
            self.give_back(conn_h, 1)
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
            self.give_back(conn_h, 1)
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
        self.send(W.EV_INDDONE, conn_h, handle, status)

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
                if op == W.OP_NOTIFY:
                    self.held_buffers += 1       # the board's buffer is taken from now on
                if op == W.OP_CONTROL:
                    self.server.control(*W.unpack(op, body[1:])[0])
                elif op == W.OP_REPLY or op == W.OP_PASSKEY:
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

    def control(self, kind: int, arg: int) -> None:
        loop = asyncio.get_running_loop()
        for board in self.boards:
            f = board.faults
            if kind == W.CTL_STALL:
                f.stall_until = loop.time() + arg / 1000.0
            elif kind == W.CTL_DUP:
                f.dup += arg
            elif kind == W.CTL_SWAP:
                f.swap += arg
            elif kind == W.CTL_CORRUPT:
                f.corrupt += arg
            elif kind == W.CTL_DROP:
                for conn in list(board.conns.values()):
                    # the link is lost (reported to both sides as a connection timeout)
                    asyncio.ensure_future(conn.disconnect(hci.HCI_CONNECTION_TIMEOUT_ERROR))


class BridgeControl:
    """Test-side client that injects air faults into every board on the bridge."""

    def __init__(self, addr: str) -> None:
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)))

    def _send(self, kind: int, arg: int) -> None:
        self.sock.sendall(W.pack(W.OP_CONTROL, kind, arg))

    def stall(self, seconds: float) -> None:
        """Withhold transmit completions: the board's notify queue stays full."""
        self._send(W.CTL_STALL, int(seconds * 1000))

    def duplicate_next(self, n: int = 1) -> None:
        self._send(W.CTL_DUP, n)

    def swap_next(self, n: int = 1) -> None:
        self._send(W.CTL_SWAP, n)

    def corrupt_next(self, n: int = 1) -> None:
        self._send(W.CTL_CORRUPT, n)

    def drop_links(self) -> None:
        """End every board's connections now, as a lost link."""
        self._send(W.CTL_DROP, 0)

    def close(self) -> None:
        self.sock.close()
