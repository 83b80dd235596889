"""The sim board's ``bluetooth`` behaves like MicroPython's NimBLE binding, point by point.

Each test names the C function of micropython/micropython whose behaviour it pins
(extmod/modbluetooth.c, extmod/nimble/modbluetooth_nimble.c, and NimBLE's host under it).
A probe program (tests/firmware/nimble_probe.py) runs on the real MicroPython unix port
with the sim board's ``bluetooth``; the central is a Bumble device on the same virtual
radio, so ATT error codes and pairing are what a real central would see.
"""
from __future__ import annotations

import ast
import asyncio
import queue
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from bumble import hci, pairing
from bumble.att import ATT_Error
from bumble.device import Device, Peer
from bumble.transport import open_transport

from spasmtrack import firmware
from spasmtrack.ble.radio import VirtualRadio
from spasmtrack.ble.simbridge import BridgeControl

W = firmware.board_module("sim", "simwire")
PROBE = Path(__file__).parent / "firmware" / "nimble_probe.py"
ENODEV, EINVAL, ENOMEM, ENOTCONN = 19, 22, 12, 107


@pytest.fixture(scope="module")
def radio(tmp_path_factory):
    with VirtualRadio(tmp_path_factory.mktemp("radio"), supervision_timeout_s=0.3) as r:
        yield r


class Probe:
    def __init__(self, radio: VirtualRadio, scenario: str, mac: str) -> None:
        env = firmware.unix_env(firmware.micropypath(extra=[PROBE.parent]),
                                SPASMTRACK_BLE_BRIDGE=radio.bridge_addr, SPASMTRACK_SIM_MAC=mac)
        self.proc = subprocess.Popen([firmware.micropython(), str(PROBE), scenario], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.q: queue.Queue[tuple] = queue.Queue()
        self.seen: list[tuple] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("P "):
                self.q.put(ast.literal_eval(line[2:]))

    def until(self, tag: str, timeout: float = 10.0) -> tuple:
        while True:
            item = self.q.get(timeout=timeout)
            self.seen.append(item)
            if item[0] == tag:
                return item

    def send(self, cmd: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def close(self) -> list[tuple]:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        while not self.q.empty():
            self.seen.append(self.q.get())
        return self.seen


class _Keyboard(pairing.PairingDelegate):
    def __init__(self, passkey: int | None) -> None:
        io = (pairing.PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY if passkey is not None
              else pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)
        super().__init__(io_capability=io)
        self.passkey = passkey

    async def get_number(self) -> int | None:
        return self.passkey


async def _central(radio: VirtualRadio, mac: str, addr: str, passkey: int | None = None):
    t = await open_transport(radio.hci_spec)
    dev = Device.with_hci("central", hci.Address(addr, hci.Address.RANDOM_DEVICE_ADDRESS),
                          t.source, t.sink)
    dev.pairing_config_factory = lambda _c: pairing.PairingConfig(
        sc=True, mitm=passkey is not None, bonding=True, delegate=_Keyboard(passkey))
    await dev.power_on()
    conn = await dev.connect(hci.Address(mac, hci.Address.RANDOM_DEVICE_ADDRESS))
    peer = Peer(conn)
    await peer.discover_services()
    await peer.discover_characteristics()
    (char,) = [c for s in peer.services for c in s.characteristics if c.uuid.to_hex_str() == "FFF1"]
    await char.discover_descriptors()
    return t, conn, peer, char


async def _att_code(aw: Any) -> int:
    try:
        await aw
    except ATT_Error as exc:
        return int(exc.error_code)
    return 0


def test_modbluetooth_config_before_active_raises_enodev(radio):
    """mp_bluetooth_set_preferred_mtu / _set_address_mode / _get_current_address /
    _get_preferred_mtu check mp_bluetooth_is_active (ERRNO_BLUETOOTH_NOT_ACTIVE = ENODEV);
    gap_name and the security settings (ble_hs_cfg) are accepted before activation."""
    p = Probe(radio, "config", "F0:5A:5A:00:01:01")
    try:
        p.until("ok", 10)
    finally:
        seen = p.close()
    assert ("err", "mtu", ENODEV) in seen and ("err", "addr_mode", ENODEV) in seen
    assert ("err", "mac", ENODEV) in seen and ("err", "mtu", ENODEV) in seen
    assert ("ok", "gap_name+security") in seen


def test_nimble_load_irk_raises_secret_irqs_inside_active(radio):
    """sync_cb -> load_irk(): active(True) asks _IRQ_GET_SECRET(10, 0, b"irk") and, with
    nothing stored, saves a new 16-byte key with _IRQ_SET_SECRET(10, b"irk", key) - before
    active() returns; a handler registered afterwards never sees them (a new key each boot)."""
    p = Probe(radio, "activate", "F0:5A:5A:00:01:02")
    try:
        p.until("active")
    finally:
        early = p.close()
    get, put = early[0], early[1]
    assert get == ("get", W.SECRET_OUR_IRK, 0, b"irk")
    assert put[:3] == ("set", W.SECRET_OUR_IRK, b"irk") and len(put[3]) == 16
    assert early.index(put) < early.index(("active",))
    p = Probe(radio, "late", "F0:5A:5A:00:01:03")
    try:
        p.until("active")
    finally:
        late = p.close()
    assert [x for x in late if x[0] in ("get", "set")] == []


def test_nimble_att_svr_check_perms_0x05_but_cccd_open_on_an_unencrypted_link(radio):
    """ble_att_svr_check_perms: a *_AUTHENTICATED attribute read or written on a link without
    encryption -> ATT 0x05 Insufficient Authentication (not 0x0F); the CCCD has no security
    of its own, so a subscription is accepted (and the firmware must check the link)."""
    mac = "F0:5A:5A:00:01:04"
    p = Probe(radio, "serve", mac)

    async def go():
        t, conn, peer, char = await _central(radio, mac, "C2:5A:00:00:01:04")
        try:
            read = await _att_code(peer.read_value(char))
            write = await _att_code(peer.write_value(char, b"w", with_response=True))
            sub = await _att_code(peer.subscribe(char, lambda _v: None))
            return read, write, sub
        finally:
            await t.close()
    try:
        p.until("ready")
        read, write, sub = asyncio.run(go())
    finally:
        seen = p.close()
    assert (read, write, sub) == (0x05, 0x05, 0)
    assert not [x for x in seen if x[0] == "write"]        # the firmware never saw the write


@pytest.mark.parametrize("passkey,auth", [(123456, 1), (None, 0)])
def test_nimble_secret_store_shapes_and_encryption_update_ints(radio, passkey, auth):
    """ble_secret_store_write: bonds are sec_type 1 (our) and 2 (peer) keyed by the 7-byte
    ble_addr_t with the 80-byte ble_store_value_sec; mp_bluetooth_gatts_on_encryption_update
    passes ints (conn, encrypted, authenticated, bonded, key_size): authenticated = 1 for
    passkey entry, 0 for Just Works (central with no input/output)."""
    mac = "F0:5A:5A:00:01:%02X" % (5 + auth)
    p = Probe(radio, "serve", mac)

    async def go():
        t, conn, peer, char = await _central(radio, mac, "C2:5A:00:00:01:%02X" % (5 + auth), passkey)
        try:
            await conn.pair()
            await asyncio.sleep(0.3)
            return await _att_code(peer.read_value(char))
        finally:
            await t.close()
    try:
        p.until("ready")
        read = asyncio.run(go())
        enc = p.until("enc")
    finally:
        seen = p.close()
    sets = [x for x in seen if x[0] == "set" and x[1] in (W.SECRET_OUR_SEC, W.SECRET_PEER_SEC)]
    assert {x[1] for x in sets} == {W.SECRET_OUR_SEC, W.SECRET_PEER_SEC}
    assert all(len(x[2]) == W.SECRET_KEY_LEN and len(x[3]) == W.SEC_VALUE_LEN for x in sets)
    assert all(bool(x[3][W.SEC_FLAGS_OFFSET] & W.SEC_FLAG_AUTHENTICATED) == bool(auth)
               for x in sets)
    _, (conn_h, e, a, b, ks) = enc
    assert all(type(v) is int for v in (conn_h, e, a, b, ks))
    assert (e, a, b, ks) == (1, auth, 1, 16)
    assert read == (0 if auth else 0x05)       # _FLAG_READ_AUTHENTICATED needs MITM


def test_nimble_write_refused_0x11_while_the_pool_is_empty_and_indicate_semantics(radio):
    """ble_att_svr_rx_write: with NimBLE's buffer pool used up by notifications
    (ble_hs_mbuf_from_flat -> gatts_notify raises ENOMEM) a central's write is refused with
    ATT 0x11 before the access callback runs. ble_gattc_indicate_custom: no EALREADY (two
    indications in a row are both delivered); on failure the NOTIFY_TX event
    (_IRQ_GATTS_INDICATE_DONE with a non-zero status) fires inside the call, which raises."""
    mac = "F0:5A:5A:00:01:08"
    p = Probe(radio, "serve", mac)
    ctl = BridgeControl(radio.bridge_addr)

    async def go():
        t, conn, peer, char = await _central(radio, mac, "C2:5A:00:00:01:08", 123456)
        try:
            await conn.pair()
            # the link is authenticated for the stack once it reports the encryption update
            # (end of pairing, after the bond is stored); the central's pair() returns earlier
            await asyncio.get_running_loop().run_in_executor(None, p.until, "enc")
            got: list[bytes] = []
            await peer.subscribe(char, got.append, prefer_notify=False)
            ctl.stall(1.0)                       # the controller completes nothing for 1 s
            await asyncio.sleep(0.1)
            p.send("notify 40")
            notified = await asyncio.get_running_loop().run_in_executor(None, p.until, "notified")
            refused = await _att_code(peer.write_value(char, b"ack", with_response=True))
            await asyncio.sleep(1.2)             # the pool drains
            accepted = await _att_code(peer.write_value(char, b"ack", with_response=True))
            p.send("indicate2")
            await asyncio.sleep(0.5)
            p.send("indicate_bad")
            raised = await asyncio.get_running_loop().run_in_executor(None, p.until, "raised")
            return notified, refused, accepted, raised
        finally:
            await t.close()
    try:
        p.until("ready")
        notified, refused, accepted, raised = asyncio.run(go())
    finally:
        ctl.close()
        seen = p.close()
    assert notified[1:] == (12, ENOMEM)                      # 12 buffers, then ENOMEM
    assert (refused, accepted) == (0x11, 0)
    dones = [x for x in seen if x[0] == "inddone"]
    assert [d[3] for d in dones[:2]] == [0, 0]               # both indications confirmed
    bad = dones[2]
    assert bad[1] == 999 and bad[3] != 0                     # fired inside the failing call
    assert seen.index(bad) < seen.index(raised) and raised == ("raised", ENOTCONN)
