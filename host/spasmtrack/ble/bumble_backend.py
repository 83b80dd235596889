"""A bleak backend on a Bumble ``Device``: the host's real bleak code on the virtual radio.

``BleakClient(addr, backend=BumbleClient)`` and ``BleakScanner(backend=BumbleScanner)``
use one Bumble device per process (:func:`adapter`) attached over HCI to the transport in
``SPASMTRACK_BLE_RADIO`` (e.g. ``unix:/tmp/x/hci.sock``, the virtual radio). Bond keys are
kept in a JSON key store (``SPASMTRACK_BLE_KEYS``, default next to the database) and the
host uses a fixed static random address (``SPASMTRACK_BLE_HOST_ADDR``) so bonds survive
restarts, as with a real adapter. Pairing is LE Secure Connections with passkey entry:
the device shows a passkey (its LED code), the host's user types it; :data:`passkey_source`
is the coroutine that asks for it (default: a terminal prompt; tests read the sim device).

It subclasses bleak's backend base classes (``BaseBleakClient``/``BaseBleakScanner``) and
builds ``BleakGATTService``/``Characteristic``/``Descriptor`` objects, which bleak marks as
internal: bleak and bumble are pinned exactly and ``tests/test_ble_contract.py`` checks the
signatures this module relies on.
"""
from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import hci, pairing
from bumble.att import ATT_Error
from bumble.core import AdvertisingData
from bumble.device import Connection, Device, Peer
from bumble.keys import JsonKeyStore
from bumble.transport import open_transport

RADIO_ENV = "SPASMTRACK_BLE_RADIO"
KEYS_ENV = "SPASMTRACK_BLE_KEYS"
ADDR_ENV = "SPASMTRACK_BLE_HOST_ADDR"
DEFAULT_HOST_ADDR = "C2:5A:00:00:00:01"
REQUESTED_MTU = 247

@dataclass(frozen=True)
class BumbleRadio:
    """The Bluetooth stack to use instead of the computer's: a Bumble HCI transport.

    ``hci``: transport spec (``unix:DIR/hci.sock`` of a :class:`~spasmtrack.ble.radio.VirtualRadio`);
    ``keys``: the host's bond store (JSON; default ``$SPASMTRACK_BLE_KEYS`` or
    ``~/.local/share/spasmtrack/bumble-keys.json``); ``address``: the host's own address."""

    hci: str
    keys: Path | None = None
    address: str = ""

    @classmethod
    def from_env(cls) -> "BumbleRadio | None":
        """``$SPASMTRACK_BLE_RADIO`` (and the keys/address variables), or None when unset."""
        spec = os.environ.get(RADIO_ENV)
        if not spec:
            return None
        keys = os.environ.get(KEYS_ENV)
        return cls(spec, Path(keys) if keys else None, os.environ.get(ADDR_ENV, ""))


async def _prompt_passkey() -> int | None:
    """Ask the user for the passkey the device shows (None when there is no terminal)."""
    import sys
    if not sys.stdin.isatty():
        return None
    text = await asyncio.get_running_loop().run_in_executor(
        None, input, "passkey shown by the device (6 digits): ")
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 6 else None


#: Coroutine function returning the passkey the device shows, or None to give up.
passkey_source: Callable[[], Awaitable[int | None]] = _prompt_passkey


class _HostPairingDelegate(pairing.PairingDelegate):
    """The host types the device's passkey (keyboard only: passkey entry, MITM)."""

    def __init__(self) -> None:
        super().__init__(io_capability=pairing.PairingDelegate.IoCapability.KEYBOARD_INPUT_ONLY)

    async def get_number(self) -> int | None:
        return await passkey_source()


_PROPS = (("broadcast", 0x01), ("read", 0x02), ("write-without-response", 0x04),
          ("write", 0x08), ("notify", 0x10), ("indicate", 0x20))


def _uuid_str(u: Any) -> str:
    """Bumble UUID -> bleak's normalized lower-case 128-bit string."""
    s = u.to_hex_str("-") if hasattr(u, "to_hex_str") else str(u)
    s = s.lower()
    if len(s) == 4:
        s = f"0000{s}-0000-1000-8000-00805f9b34fb"
    return s


class _Adapter:
    def __init__(self) -> None:
        self.device: Device | None = None
        self.transport: Any = None
        self.lock = asyncio.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None

    async def get(self, radio: BumbleRadio | None = None) -> Device:
        """The Bumble device on ``radio`` (default :meth:`BumbleRadio.from_env`)."""
        async with self.lock:
            if self.device is not None:
                return self.device
            radio = radio or BumbleRadio.from_env()
            if radio is None:
                raise BleakError(f"no Bumble radio: set {RADIO_ENV} (e.g. unix:/path/hci.sock)")
            self.transport = await open_transport(radio.hci)
            addr = hci.Address(radio.address or DEFAULT_HOST_ADDR, hci.Address.RANDOM_DEVICE_ADDRESS)
            dev = Device.with_hci("spasmtrack-host", addr, self.transport.source,
                                  self.transport.sink)
            keys = str(radio.keys) if radio.keys else str(
                Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
                / "spasmtrack" / "bumble-keys.json")
            Path(keys).parent.mkdir(parents=True, exist_ok=True)
            dev.keystore = JsonKeyStore(namespace=str(addr), filename=keys)
            dev.pairing_config_factory = lambda _c: pairing.PairingConfig(
                sc=True, mitm=True, bonding=True, delegate=_HostPairingDelegate())
            await dev.power_on()
            self.device = dev
            self.loop = asyncio.get_running_loop()
            return dev

    async def close(self) -> None:
        if self.transport is not None:
            await self.transport.close()
        self.transport = None
        self.device = None


_ADAPTERS: dict[int, _Adapter] = {}


def adapter() -> _Adapter:
    """The process's Bumble adapter for the running event loop."""
    loop = asyncio.get_running_loop()
    a = _ADAPTERS.get(id(loop))
    if a is None or (a.loop is not None and a.loop is not loop):
        a = _ADAPTERS[id(loop)] = _Adapter()
    return a


async def close_adapter() -> None:
    a = _ADAPTERS.pop(id(asyncio.get_running_loop()), None)
    if a is not None:
        await a.close()


def _gatt_error(exc: ATT_Error) -> BleakGATTProtocolError:
    return BleakGATTProtocolError(int(exc.error_code))


class BumbleClient(BaseBleakClient):
    """bleak client backend over a Bumble device."""

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        self._radio: BumbleRadio | None = kwargs.pop("radio", None)
        super().__init__(address_or_ble_device, disconnected_callback=kwargs.pop(
            "disconnected_callback", None), timeout=kwargs.pop("timeout", 10.0))
        self._conn: Connection | None = None
        self._peer: Peer | None = None
        self._subs: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self.address

    @property
    def identity_address(self) -> str:
        """The peer's identity address (after pairing: what its private addresses resolve
        to, and what the bond is stored under)."""
        if self._conn is not None:
            return str(self._conn.peer_address).split("/")[0]
        return self.address

    @property
    def mtu_size(self) -> int:
        return self._conn.att_mtu if self._conn is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._conn is not None and self._conn.handle is not None and self._peer is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        dev = await adapter().get(self._radio)
        # bumble's own timeout waits for the controller to confirm the cancel, which the
        # virtual controller never does; asyncio.wait_for would wait for that cancellation
        # too (and hang), so the attempt is bounded with asyncio.wait and then abandoned
        attempt = asyncio.ensure_future(dev.connect(
            hci.Address(self.address, hci.Address.RANDOM_DEVICE_ADDRESS), timeout=None))
        done, _ = await asyncio.wait({attempt}, timeout=self._timeout)
        if not done:
            attempt.cancel()
            attempt.add_done_callback(lambda t: t.cancelled() or t.exception())
            raise BleakDeviceNotFoundError(
                self.address, f"cannot connect to {self.address}: no answer in {self._timeout:g} s")
        try:
            conn = attempt.result()
        except Exception as exc:  # noqa: BLE001 - bumble raises several kinds here
            raise BleakDeviceNotFoundError(self.address, f"cannot connect to {self.address}: {exc}") from exc
        self._conn = conn

        def on_disc(_reason: int) -> None:
            self._peer = None
            self._conn = None
            if self._disconnected_callback is not None:
                self._disconnected_callback()

        conn.on("disconnection", on_disc)
        peer = Peer(conn)
        self._peer = peer
        await peer.request_mtu(REQUESTED_MTU)
        if dev.keystore is not None and await dev.keystore.get(str(conn.peer_address)):
            try:
                await conn.encrypt()          # bonded before: re-encrypt with the stored keys
            except Exception as exc:  # noqa: BLE001 - the device forgot the bond
                if not pair or self._conn is None:
                    raise BleakError(f"encryption with the stored bond failed: {exc}") from exc
                await dev.keystore.delete(str(conn.peer_address))
                await self._pair(conn)
        elif pair:
            await self._pair(conn)
        await self._discover(peer)

    async def _pair(self, conn: Connection) -> None:
        try:
            await conn.pair()
        except Exception as exc:  # noqa: BLE001 - bumble raises several kinds here
            raise BleakError(
                f"pairing refused ({exc or type(exc).__name__}): open the device's pairing "
                "window (long press of its button) and type the passkey it shows") from exc
        # pair() returns when the keys are exchanged; the key store is written by a task
        # of its own: the bond must be on disk before the link (and the adapter) may go
        dev = await adapter().get(self._radio)
        for _ in range(250):
            if dev.keystore is None or await dev.keystore.get(str(conn.peer_address)):
                return
            await asyncio.sleep(0.02)
        raise BleakError("pairing completed but the bond was not stored")

    async def _discover(self, peer: Peer) -> None:
        coll = BleakGATTServiceCollection()
        await peer.discover_services()
        for s in peer.services:
            svc = BleakGATTService(s, s.handle, _uuid_str(s.uuid))
            coll.add_service(svc)
            await s.discover_characteristics()
            for c in s.characteristics:
                props = [n for n, bit in _PROPS if int(c.properties) & bit]
                ch = BleakGATTCharacteristic(c, c.handle, _uuid_str(c.uuid), props,
                                             lambda: self.mtu_size - 3, svc)
                coll.add_characteristic(ch)
                await c.discover_descriptors()
                for d in c.descriptors:
                    coll.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), ch))
        self.services = coll

    async def disconnect(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.disconnect()
            except Exception:  # noqa: BLE001 - already gone
                pass
        self._conn = None
        self._peer = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        if self._conn is None:
            raise BleakError("not connected")
        await self._pair(self._conn)

    async def unpair(self) -> None:
        dev = await adapter().get(self._radio)
        if dev.keystore is not None:
            try:
                await dev.keystore.delete(self.address)
            except KeyError:
                pass
        await self.disconnect()

    def _need_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def _op(self, aw: Any) -> Any:
        """Await a GATT operation; ATT errors and a link lost meanwhile become bleak errors
        (Bumble cancels what is pending when the link drops)."""
        try:
            return await aw
        except ATT_Error as exc:
            raise _gatt_error(exc) from exc
        except asyncio.CancelledError:
            # Bumble cancels the pending request when the link drops; the disconnection
            # event may reach this client only later. Only a cancellation of the calling
            # task itself is passed on: any other is the stack giving up on the link.
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise
            raise BleakError("disconnected during a GATT operation") from None

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        return bytearray(await self._op(self._need_peer().read_value(characteristic.obj)))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        return bytearray(await self._op(self._need_peer().read_value(descriptor.obj)))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any,
                              response: bool) -> None:
        await self._op(self._need_peer().write_value(characteristic.obj, bytes(data),
                                                     with_response=response))

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._op(self._need_peer().write_value(descriptor.obj, bytes(data), with_response=True))

    async def start_notify(self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback,
                           **kwargs: Any) -> None:
        def cb(value: bytes) -> None:
            callback(bytearray(value))

        self._subs[characteristic.handle] = cb
        await self._op(self._need_peer().subscribe(
            characteristic.obj, cb, prefer_notify="notify" in characteristic.properties))

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        cb = self._subs.pop(characteristic.handle, None)
        await self._op(self._need_peer().unsubscribe(characteristic.obj, cb))


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend over the same Bumble device."""

    def __init__(self, detection_callback: Any = None, service_uuids: list[str] | None = None,
                 scanning_mode: str = "active", **kwargs: Any) -> None:
        self._radio: BumbleRadio | None = kwargs.pop("radio", None)
        super().__init__(detection_callback, service_uuids)
        self._active = scanning_mode != "passive"
        self._dev: Device | None = None
        self._uuids: dict[str, set[str]] = {}
        self._names: dict[str, str] = {}

    def _on_adv(self, adv: Any) -> None:
        key = str(adv.address)
        data: AdvertisingData = adv.data
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(AdvertisingData.SHORTENED_LOCAL_NAME)
        if name:
            self._names[key] = name if isinstance(name, str) else bytes(name).decode(errors="replace")
        uu = self._uuids.setdefault(key, set())
        for t in (AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                  AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                  AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                  AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS):
            for u in data.get(t) or []:
                uu.add(_uuid_str(u))
        uuids = sorted(uu)
        if not self.is_allowed_uuid(uuids):
            return
        ad = AdvertisementData(local_name=self._names.get(key), manufacturer_data={},
                               service_data={}, service_uuids=uuids, tx_power=None,
                               rssi=int(getattr(adv, "rssi", -60)), platform_data=(adv,))
        device = self.create_or_update_device(key, key, self._names.get(key), adv, ad)
        self.call_detection_callbacks(device, ad)

    async def start(self) -> None:
        self.seen_devices = {}
        dev = await adapter().get(self._radio)
        self._dev = dev
        dev.on("advertisement", self._on_adv)
        await dev.start_scanning(active=self._active, filter_duplicates=False)

    async def stop(self) -> None:
        if self._dev is not None:
            try:
                self._dev.remove_listener("advertisement", self._on_adv)
            except Exception:  # noqa: BLE001
                pass
            await self._dev.stop_scanning()
            self._dev = None


def backends(radio: BumbleRadio | None = None) -> dict[str, Any]:
    """``BleakClient``/``BleakScanner`` backends: Bumble when ``radio`` is given or
    ``SPASMTRACK_BLE_RADIO`` is set, else {} (the OS's Bluetooth through bleak)."""
    if radio is not None or os.environ.get(RADIO_ENV):
        return {"client": BumbleClient, "scanner": BumbleScanner}
    return {}
