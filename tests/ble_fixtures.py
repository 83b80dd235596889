"""Fixtures shared by the BLE tests: one virtual radio per test module, and the host's
radio and bond-key file for one test (import the names into a test module to use them)."""
from __future__ import annotations

import pytest

from spasmtrack.ble.radio import VirtualRadio


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
