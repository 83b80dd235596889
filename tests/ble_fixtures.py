"""Shared by the BLE tests (a pytest plugin, pytest.ini ``-p ble_fixtures``): one virtual
radio per test module, the host's radio and bond-key file for one test, and ``run``."""
from __future__ import annotations

import asyncio

import pytest

from spasmtrack.ble.bumble_backend import close_adapter
from spasmtrack.ble.radio import VirtualRadio


def run(coro):
    """Run one host coroutine to its end, then close the host's Bumble adapter."""
    async def main():
        try:
            return await coro
        finally:
            await close_adapter()
    return asyncio.run(main())


@pytest.fixture(scope="module")
def radio(tmp_path_factory):
    """A virtual radio with short supervision timeouts, so dropped links end quickly."""
    with VirtualRadio(tmp_path_factory.mktemp("radio"), supervision_timeout_s=0.3) as r:
        yield r


@pytest.fixture
def env(radio, tmp_path, monkeypatch):
    """The CLI's radio and this test's own host key file; returns the test's folder."""
    monkeypatch.setenv("SPASMTRACK_BLE_RADIO", radio.hci_spec)
    monkeypatch.setenv("SPASMTRACK_BLE_KEYS", str(tmp_path / "host-keys.json"))
    return tmp_path
