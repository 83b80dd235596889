"""BLE sync into PostgreSQL: the real firmware on the sim board, the host's bleak code over
the virtual radio, the store on a throwaway PostgreSQL server (tests/dbbackends.py).
The same scenario as the SQLite week-backlog test; the database must hold exactly the
device's records, bit-identical, none lost, none twice."""
from __future__ import annotations


from sqlalchemy import select

from spasmtrack import records as R
from spasmtrack.ble.bumble_backend import BumbleRadio
from spasmtrack.ble.simdevice import DEVICE_ADDR, ESP32_FREE_HEAP_ON_THIS_PORT, SimBleDevice, device_frames, pair_sim
from spasmtrack.ble.sync import sync_device
from spasmtrack.store import open_store
from spasmtrack.store import schema as s

from ble_fixtures import run


KEY = "sim-dev-pg"




def test_week_backlog_then_incremental_sync_into_postgresql(radio, pg_server, tmp_path):
    # the host's Bumble stack and bond store, passed to pairing and sync (not via os.environ)
    host = BumbleRadio(radio.hci_spec, keys=tmp_path / "host-keys.json")
    st = open_store(pg_server.create_database("ble_sync_week"))
    assert st.backend == "postgresql"
    flash = tmp_path / "flash"
    with SimBleDevice(flash, radio, events=300, summaries=100, heapsize=ESP32_FREE_HEAP_ON_THIS_PORT, compiled=True) as dev:
        assert run(pair_sim(dev, host)) == DEVICE_ADDR     # only a bonded host may sync
        r1 = run(sync_device(DEVICE_ADDR, st, KEY, batch=128, backend=host))
        assert r1.records == 402 and r1.rejected_frames == 0
        r2 = run(sync_device(DEVICE_ADDR, st, KEY, backend=host))
        assert r2.start_seq == r1.last_seq + 1 and r2.records == 1
        dev.kill()
    frames, acked = device_frames(flash)
    want = {R.unpack_from(f, 0)[1]: f for f in frames}
    with st.engine.connect() as c:
        rows = c.execute(select(s.records.c.seq, s.records.c.frame).join(
            s.devices, s.devices.c.id == s.records.c.device_id).where(s.devices.c.key == KEY)).all()
        placed = c.execute(select(s.events.c.onset_utc_ms)).scalars().all()
    got = {int(q): bytes(f) for q, f in rows}
    assert len(rows) == len(got) == len(want) == 403
    assert got == want and acked == max(want)
    assert len(placed) == 300 and None not in placed      # every event placed in UTC
