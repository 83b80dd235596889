"""Contract of the bleak internals and Bumble APIs that spasmtrack.ble relies on.

bleak marks its backend base classes and GATT object constructors as internal, and the
Bumble backend and the virtual radio use Bumble internals (LocalLink, Controller fields).
Both packages are pinned exactly; this test fails first if a bump changes what we use.
"""
from __future__ import annotations

import asyncio
import inspect
import re
from importlib import metadata
from pathlib import Path

import bleak
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection

from spasmtrack.ble.bumble_backend import BumbleClient, BumbleScanner

ROOT = Path(__file__).resolve().parents[1]


def _pin(name: str) -> str:
    text = (ROOT / "host" / "pyproject.toml").read_text()
    m = re.search(rf'"{name}==([^"]+)"', text)
    assert m, f"{name} must be pinned exactly in host/pyproject.toml"
    return m.group(1)


def test_installed_versions_are_the_pinned_ones():
    assert metadata.version("bleak") == _pin("bleak")
    assert metadata.version("bumble") == _pin("bumble")


def _params(fn) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p != "self"]


def test_bleak_backend_constructors_we_call():
    assert _params(BleakGATTService.__init__) == ["obj", "handle", "uuid"]
    assert _params(BleakGATTCharacteristic.__init__) == [
        "obj", "handle", "uuid", "properties", "max_write_without_response_size", "service"]
    assert _params(BleakGATTDescriptor.__init__) == ["obj", "handle", "uuid", "characteristic"]
    for m in ("add_service", "add_characteristic", "add_descriptor"):
        assert callable(getattr(BleakGATTServiceCollection, m))
    assert list(AdvertisementData._fields) == [
        "local_name", "manufacturer_data", "service_data", "service_uuids", "tx_power", "rssi",
        "platform_data"]
    assert {"create_or_update_device", "call_detection_callbacks", "is_allowed_uuid"} <= set(
        dir(BaseBleakScanner))


def test_backends_implement_every_abstract_method():
    assert not (BaseBleakClient.__abstractmethods__ - set(vars(BumbleClient)))
    assert not (BaseBleakScanner.__abstractmethods__ - set(vars(BumbleScanner)))
    # bleak's public classes accept our backends
    assert "backend" in inspect.signature(bleak.BleakClient.__init__).parameters
    assert "backend" in inspect.signature(bleak.BleakScanner.__init__).parameters
    client = bleak.BleakClient("F0:5A:5A:00:00:01", backend=BumbleClient)
    assert client.backend_id == "BumbleClient" and not client.is_connected


def test_bumble_internals_the_radio_uses():
    from bumble.controller import Controller
    from bumble.link import LocalLink

    for attr in ("le_acl_data_packet_length", "supported_max_tx_octets", "le_connections",
                 "le_legacy_advertiser", "advertising_sets", "on_le_disconnected"):
        assert hasattr(Controller, attr) or attr in inspect.signature(Controller.__init__).parameters \
            or attr in Controller.__annotations__, attr
    assert {"add_controller", "remove_controller", "find_le_controller"} <= set(dir(LocalLink))

    async def make():
        link = LocalLink()
        c = Controller("t", link=link)
        assert c in link.controllers and c.le_connections == {}
        link.remove_controller(c)
        assert c not in link.controllers
    asyncio.run(make())
