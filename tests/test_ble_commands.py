"""``spasmtrack scan|pair|sync|live`` against the sim board over the virtual radio."""
from __future__ import annotations

import asyncio

from spasmtrack import cli
from spasmtrack.ble import bumble_backend
from spasmtrack.ble.radio import VirtualRadio
from spasmtrack.ble.simdevice import DEVICE_ADDR, SimBleDevice, device_frames
from spasmtrack.store import open_store


def test_scan_pair_sync_live(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPASMTRACK_BLE_KEYS", str(tmp_path / "keys.json"))
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with VirtualRadio(tmp_path / "radio") as radio, \
            SimBleDevice(tmp_path / "flash", radio, events=40, summaries=10) as dev:
        r = ["--radio", radio.hci_spec]
        assert cli.main(["scan", "--seconds", "1", *r]) == 0
        out = capsys.readouterr().out
        (line,) = [ln for ln in out.splitlines() if "ST-sim" in ln]
        rpa = line.split()[0]
        assert rpa != DEVICE_ADDR and int(rpa[:2], 16) >> 6 == 0b01   # resolvable private
        assert "spasm" not in out.lower()       # nothing on the air names the condition

        async def typed() -> int:                   # the patient types what the device shows
            return await asyncio.get_running_loop().run_in_executor(None, dev.passkey)
        monkeypatch.setattr(bumble_backend, "passkey_source", typed)
        assert cli.main(["pair", rpa, *r]) == 0
        out = capsys.readouterr().out
        assert "51 records not yet synced" in out and f"paired with {DEVICE_ADDR}" in out
        assert cli.main(["sync", DEVICE_ADDR, "--db", db, "--create", *r]) == 0
        out = capsys.readouterr()
        assert "52 new records" in out.out and "EVENT 40" in out.out
        assert "52 records" in out.err            # progress line
        assert cli.main(["live", DEVICE_ADDR, "--seconds", "1", *r]) == 0
        out = capsys.readouterr().out
        assert "envelope     31.0 uV" in out    # mean of 25, 28, 31, 34, 37 uV
        dev.kill()
    frames, acked = device_frames(tmp_path / "flash")
    assert acked == len(frames) == 52
    assert open_store(db).last_seq(DEVICE_ADDR) == 52


def test_sync_without_radio_or_device_is_a_user_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SPASMTRACK_BLE_KEYS", str(tmp_path / "keys.json"))
    with VirtualRadio(tmp_path / "radio", bridge=False) as radio:
        rc = cli.main(["sync", "F0:00:00:00:00:99", "--timeout", "1", "--db",
                       f"sqlite:///{tmp_path / 'db.sqlite'}", "--create", "--radio", radio.hci_spec])
    assert rc == 2
    err = capsys.readouterr().err
    assert "could not reach device F0:00:00:00:00:99" in err and "nothing was stored" in err
    assert "run sync again" not in err and len(err.strip().splitlines()) == 1
