"""A link only the patient's host can use: the real firmware (ble_devmain on the sim board)
against hosts on the virtual radio.

- a rogue host in range can neither bond outside the pairing window nor, with Just Works,
  inside it; it cannot read, acknowledge (RACP DELETE) or configure, and a subscription
  it writes brings it nothing;
- at most MAX_BONDS bonds, the oldest evicted;
- the device advertises a resolvable private address that changes and names no condition;
- when another bonded host acknowledged records, the patient's host is told.
"""
from __future__ import annotations

import asyncio
import os

import pytest
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError
from bumble import hci, pairing
from bumble.att import ATT_Error
from bumble.device import Device, Peer
from bumble.smp import AddressResolver
from bumble.transport import open_transport

from spasmtrack import records as R
from spasmtrack.ble import bumble_backend as bb
from spasmtrack.ble import protocol as P
from spasmtrack.ble.radio import VirtualRadio
from spasmtrack.ble.simdevice import DEVICE_ADDR, SimBleDevice, device_frames, pair_sim
from spasmtrack.ble.sync import sync_device
from spasmtrack.serve.overview import unknown_acks
from spasmtrack.store import open_store


MAX_BONDS = 4       # firmware/device/ble_peripheral.MAX_BONDS


def run(coro):
    async def main():
        try:
            return await coro
        finally:
            await bb.close_adapter()
    return asyncio.run(main())


def as_host(monkeypatch, tmp_path, n: int) -> None:
    """Become host number n: its own address and key store."""
    monkeypatch.setenv("SPASMTRACK_BLE_HOST_ADDR", "C2:5A:00:00:%02X:%02X" % (n, n))
    monkeypatch.setenv("SPASMTRACK_BLE_KEYS", str(tmp_path / f"host{n}-keys.json"))


async def _advertisers(seconds: float = 1.2) -> dict:
    found = await BleakScanner.discover(timeout=seconds, return_adv=True, backend=bb.BumbleScanner)
    return {a: adv for a, (_d, adv) in found.items()}


class _Rogue(pairing.PairingDelegate):
    """A phone in range: no way to see the device's passkey, so it guesses (or uses Just
    Works when it has no keyboard)."""

    def __init__(self, keyboard: bool) -> None:
        super().__init__(io_capability=pairing.PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY
                         if keyboard else pairing.PairingDelegate.IoCapability.NO_OUTPUT_NO_INPUT)

    async def get_number(self) -> int:
        return 111111


async def _rogue_attempt(radio: VirtualRadio, target: str, keyboard: bool) -> dict:
    """Connect to the device's current address, try to pair, then read, subscribe,
    acknowledge (DELETE) and configure; what the stack answered."""
    t = await open_transport(radio.hci_spec)
    dev = Device.with_hci("rogue", hci.Address("D0:0D:00:00:00:01", hci.Address.RANDOM_DEVICE_ADDRESS),
                          t.source, t.sink)
    dev.pairing_config_factory = lambda _c: pairing.PairingConfig(
        sc=True, mitm=keyboard, bonding=True, delegate=_Rogue(keyboard))
    await dev.power_on()
    out: dict = {"notes": 0}
    try:
        conn = await dev.connect(hci.Address(target, hci.Address.RANDOM_DEVICE_ADDRESS))
        peer = Peer(conn)
        await peer.discover_services()
        await peer.discover_characteristics()
        chars = {c.uuid.to_hex_str("-").lower(): c for s in peer.services for c in s.characteristics}
        for c in chars.values():
            await c.discover_descriptors()
        async def code(aw) -> int:
            try:
                await asyncio.wait_for(aw, 3)
            except ATT_Error as exc:
                return int(exc.error_code)
            return 0

        # first as it is: an unencrypted link
        out["subscribe"] = await code(peer.subscribe(
            chars[P.RECORDS_UUID], lambda _v: out.__setitem__("notes", out["notes"] + 1)))
        out["read"] = await code(peer.read_value(chars[P.STATUS_UUID]))
        out["delete"] = await code(peer.write_value(chars[P.RACP_UUID], P.delete_to(5), True))
        out["config"] = await code(peer.write_value(chars[P.CONFIG_UUID], b"\x01\x00", True))
        out["report"] = await code(peer.write_value(chars[P.RACP_UUID], P.report_from(1), True))
        await asyncio.sleep(0.3)
        # then it tries to pair
        ended = asyncio.get_running_loop().create_future()
        conn.on("disconnection", lambda _r: ended.done() or ended.set_result(True))
        try:
            await asyncio.wait_for(conn.pair(), 5)
            out["paired"] = True
        except (Exception, asyncio.CancelledError):  # noqa: BLE001 - refused or link ended
            out["paired"] = False
        try:
            out["ended"] = await asyncio.wait_for(ended, 2)
        except asyncio.TimeoutError:
            out["ended"] = False
    finally:
        await t.close()
    return out


@pytest.mark.parametrize("window,keyboard", [(0, True), (600, False)])
def test_a_rogue_host_can_neither_bond_nor_read_delete_or_configure(env, radio, window, keyboard):
    flash = env / "flash"
    with SimBleDevice(flash, radio, events=20, pair_window_s=window) as dev:
        ads = run(_advertisers())
        # outside the window nothing on the air is named; inside it only the neutral name
        assert not any("spasm" in (a.local_name or "").lower() for a in ads.values())
        assert not any(P.SERVICE_UUID in a.service_uuids for a in ads.values())
        target = [addr for addr in ads if addr != DEVICE_ADDR and int(addr[:2], 16) >> 6 == 1]
        assert target, ads               # the device is there, from a private address
        got = asyncio.run(_rogue_attempt(radio, target[0], keyboard))
        dev.kill()
    for op in ("read", "delete", "config", "report"):
        assert got[op] == 0x05, (op, got)          # Insufficient Authentication
    assert got["subscribe"] == 0 and got["notes"] == 0    # accepted (NimBLE), brings nothing
    # outside the window the passkey is never shown; inside it, Just Works gets no bond;
    # either way the device ends the link
    assert got["ended"] is True and (got["paired"] is False or window)
    frames, acked = device_frames(flash)
    assert acked == 0 and len(frames) == 21        # nothing acknowledged, nothing added
    bonds = (flash / "bonds.bin").read_bytes()    # BondStore's file: head (8), have[n], ...
    assert bonds[:5] == b"STB2" + bytes((MAX_BONDS,)) and not any(bonds[8:8 + MAX_BONDS])


def test_bond_table_keeps_the_newest_hosts_the_oldest_must_pair_again(env, radio, monkeypatch):
    with SimBleDevice(env / "flash", radio, events=5) as dev:
        for n in range(1, MAX_BONDS + 2):
            as_host(monkeypatch, env, n)
            assert run(pair_sim(dev)) == DEVICE_ADDR
        as_host(monkeypatch, env, 2)                       # still bonded: re-encrypts
        st = open_store(f"sqlite:///{env / 'db2.sqlite'}")
        assert run(sync_device(DEVICE_ADDR, st, "k", timeout_s=5)).records > 0
        as_host(monkeypatch, env, 1)                       # evicted: the device forgot it

        async def first_again():
            c = BleakClient(DEVICE_ADDR, backend=bb.BumbleClient, pair=False, timeout=5)
            await c.connect()
            try:
                await c.read_gatt_char(P.STATUS_UUID)
            finally:
                await c.disconnect()
        with pytest.raises(BleakError):
            run(first_again())
        dev.kill()
    bonds = (env / "flash" / "bonds.bin").read_bytes()
    assert all(bonds[8:8 + MAX_BONDS])                   # every slot holds a bond


def test_private_address_changes_and_resolves_only_with_the_bond(env, radio):
    with SimBleDevice(env / "flash", radio, events=5) as dev:
        assert run(pair_sim(dev)) == DEVICE_ADDR
        first = [a for a in run(_advertisers()) if int(a[:2], 16) >> 6 == 1]
        dev.press_pair_button()                          # advertising starts again
        second = [a for a in run(_advertisers()) if int(a[:2], 16) >> 6 == 1]
        dev.kill()
    import json
    keys = json.loads((env / "host-keys.json").read_text())
    irk = bytes.fromhex(next(iter(keys.values()))[DEVICE_ADDR]["irk"]["value"])
    resolver = AddressResolver([(irk, hci.Address(DEVICE_ADDR, hci.Address.RANDOM_DEVICE_ADDRESS))])
    assert first and second and set(first).isdisjoint(second)
    for a in first + second:
        assert str(resolver.resolve(hci.Address(a, hci.Address.RANDOM_DEVICE_ADDRESS))) \
            .startswith(DEVICE_ADDR)
    stranger = AddressResolver([(os.urandom(16), hci.Address(DEVICE_ADDR, hci.Address.RANDOM_DEVICE_ADDRESS))])
    assert all(stranger.resolve(hci.Address(a, hci.Address.RANDOM_DEVICE_ADDRESS)) is None
               for a in first + second)


def test_patients_host_is_told_when_another_host_acknowledged(env, radio, monkeypatch):
    flash = env / "flash"
    with SimBleDevice(flash, radio, events=30, trickle_ms=0) as dev:
        as_host(monkeypatch, env, 1)                       # the patient's phone
        run(pair_sim(dev))
        mine = open_store(f"sqlite:///{env / 'patient.sqlite'}")
        r1 = run(sync_device(DEVICE_ADDR, mine, "dev"))
        assert r1.foreign_acks == [] and r1.peer_id != 0
        as_host(monkeypatch, env, 2)                       # the clinic's computer, also bonded
        run(pair_sim(dev))
        clinic = open_store(f"sqlite:///{env / 'clinic.sqlite'}")
        r2 = run(sync_device(DEVICE_ADDR, clinic, "dev"))
        assert r2.peer_id not in (0, r1.peer_id)
        as_host(monkeypatch, env, 1)
        r3 = run(sync_device(DEVICE_ADDR, mine, "dev"))
        dev.kill()
    (from_seq, who), = r3.foreign_acks
    assert who == r2.peer_id and from_seq == r1.last_seq + 1
    # a patient list made from this store flags it: the store knows only its own bond
    did = mine.device_id("dev")
    assert mine.host_bonds([did]) == {did: {r1.peer_id}}
    mine.add_patient("P1", "UTC")
    mine.assign_device("dev", "P1", since_utc_ms=0)
    assert unknown_acks(mine, "P1") == [("dev", from_seq, r2.peer_id)]
    mine.note_host_bond("dev", r2.peer_id)          # once the clinic's host is known, no flag
    assert unknown_acks(mine, "P1") == []
    assert "acknowledged by another host" in r3.summary()
    frames, _ = device_frames(flash)
    acks = [R.decode_frame(f) for f in frames if R.unpack_from(f, 0)[0] == R.TYPE_ACK]
    assert [a["peer_id"] for a in acks] == [r2.peer_id, r1.peer_id]
