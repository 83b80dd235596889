"""BLE sync benchmark over the virtual radio (real firmware on the sim board, bleak on Bumble).

A heavy week is written into the sim device's flash log at first boot (2,100 EVENT + 2,016
five-minute SUMMARY records + BOOT); the host then pairs, sets the clock and syncs it into a
fresh SQLite database with the same code as ``spasmtrack sync``.

- ``sync_week_s``: wall time of that sync, connect + pairing + clock + records + commits + acks.
- ``sync_records_per_s``: records stored per second of the record transfer (sync_client).
- ``sync_bytes_per_event``: bytes on air for one EVENT record: its 48-byte frame plus its share
  of the per-notification overhead (1 B header, ATT 3 B, L2CAP 4 B, LL header 2 B, MIC 4 B).
- ``sync_week_esp32_est_s`` (on paper): the same bytes on a real ESP32 link at a 30 ms
  connection interval, assuming 2 full notifications per connection event (what common
  phone/PC centrals allow; more per event is faster): air bytes / (2 x 251 B / 30 ms).
"""
from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from .. import records as R
from ..ble.bumble_backend import BumbleRadio, close_adapter
from ..ble.radio import VirtualRadio
from ..ble.simdevice import DEVICE_ADDR, SimBleDevice
from ..ble.sync import sync_device
from ..store import open_store
from . import BenchFigure

EVENTS = 2100
SUMMARIES = 2016
NOTIFY_OVERHEAD = 1 + 3 + 4 + 2 + 4     # header, ATT, L2CAP, LL header, MIC (bytes)
CI_S = 0.030
PER_CI = 2
LL_PAYLOAD = 251


def measure(events: int = EVENTS, summaries: int = SUMMARIES) -> dict:
    with tempfile.TemporaryDirectory(prefix="spasmtrack-bench-sync-") as tmp:
        d = Path(tmp)
        with VirtualRadio(d / "radio") as radio, \
                SimBleDevice(d / "flash", radio, events=events, summaries=summaries) as dev:
            bumble = BumbleRadio(radio.hci_spec, keys=d / "keys.json")
            st = open_store(f"sqlite:///{d / 'db.sqlite'}")

            async def go():
                try:
                    t0 = time.perf_counter()
                    res = await sync_device(DEVICE_ADDR, st, "bench", backend=bumble)
                    return res, time.perf_counter() - t0
                finally:
                    await close_adapter()

            res, wall = asyncio.run(go())
            acc = st.sync_accounting("bench")
            dev.kill()
    frame_bytes = res.bytes_rx - res.notifications           # minus the 1-byte headers
    air = res.bytes_rx + res.notifications * (NOTIFY_OVERHEAD - 1)
    return {"wall_s": wall, "res": res, "acc": acc, "air_bytes": air, "frame_bytes": frame_bytes}


def run() -> list[BenchFigure]:
    m = measure()
    res = m["res"]
    per_event = R.frame_size(R.TYPE_EVENT) * m["air_bytes"] / m["frame_bytes"]
    est = m["air_bytes"] / (PER_CI * LL_PAYLOAD / CI_S)
    exact = m["acc"]["records"] == res.last_seq and not m["acc"]["missing_seqs"]
    common = {"records": res.records, "notifications": res.notifications, "mtu": res.mtu,
              "air_bytes": m["air_bytes"], "db_exact": exact}
    return [
        BenchFigure("sync_week_s", round(m["wall_s"], 3), "s", "< 10",
                    f"{EVENTS} events + {SUMMARIES} summaries + boot/anchor over the virtual radio "
                    "(connect, pair, set clock, transfer, commit, ack)", common),
        BenchFigure("sync_records_per_s", round(res.records / res.elapsed_s, 1), "records/s", "",
                    "records stored per second of transfer in the week sync", common),
        BenchFigure("sync_bytes_per_event", round(per_event, 1), "bytes", "",
                    "bytes on air per EVENT: 48 B frame + share of notification/ATT/L2CAP/LL/MIC "
                    "overhead at the negotiated MTU", common),
        BenchFigure("sync_week_esp32_est_s", round(est, 1), "s", "",
                    f"on paper: the week's {m['air_bytes']} air bytes at a 30 ms connection "
                    f"interval, {PER_CI} x {LL_PAYLOAD} B packets per event", common),
    ]
