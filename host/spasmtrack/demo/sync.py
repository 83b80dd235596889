"""Stage ``sync``: the host's bleak sync over the virtual radio (Bumble) against the
firmware's BLE peripheral on the sim board, serving the device stage's flash log."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

from .. import firmware
from ..ble.bumble_backend import BumbleRadio, close_adapter
from ..ble.radio import VirtualRadio
from ..ble.simdevice import pair_by_name
from ..ble.sync import SyncResult, sync_device
from ..store import Store, open_store
from .run import DemoRun, StageResult, ensure_patient

TITLE = "BLE sync over the virtual radio"
DEVICE_MAC = "F0:5A:5A:00:00:01"
DEVICE_RUN_S = 600                   # the sim board's BLE program stops by itself after this


def stage_sync(run: DemoRun) -> StageResult:
    if run.flash_path is None:
        raise RuntimeError("no flash image: the device stage has not run")
    st = open_store(run.db_url)
    ensure_patient(st, run)
    flashdir = run.out / "simflash"
    if flashdir.exists():
        shutil.rmtree(flashdir)
    flashdir.mkdir(parents=True)
    bonds = run.out / "host_bonds.json"
    bonds.unlink(missing_ok=True)    # a new device, a new bond
    shutil.copyfile(run.flash_path, flashdir / "spasmlog.bin")
    t0 = time.perf_counter()
    with VirtualRadio(run.out / "radio", log=run.out / "radio.log") as radio:
        env = firmware.unix_env(SPASMTRACK_BLE_BRIDGE=radio.bridge_addr, SPASMTRACK_SIM_MAC=DEVICE_MAC)
        # the device has kept counting since the signal ended: its ms now, in wall time
        ms_now = int((time.time() - run.scn.start().timestamp()) * 1000)
        dev = subprocess.Popen(firmware.unix_command(str(firmware.program("ble_run")), str(run.boot), str(ms_now),
                                                     str(DEVICE_RUN_S)),
                               cwd=flashdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
        assert dev.stdout is not None and dev.stderr is not None
        try:
            line = dev.stdout.readline().decode()
            if not line.startswith("READY"):
                raise RuntimeError(f"sim board BLE program did not start: {line.strip()} "
                                   f"{dev.stderr.read().decode()[-600:]}")
            res = asyncio.run(_sync_once(BumbleRadio(radio.hci_spec, keys=bonds), st, run.device_key, dev))
            out, err = dev.communicate(input=b"STOP\n", timeout=60)
        finally:
            if dev.poll() is None:
                dev.kill()
                dev.wait()
    done = [ln for ln in out.decode().splitlines() if ln.startswith("DONE")]
    if not done:
        raise RuntimeError(f"sim board BLE program ended without DONE: {err.decode()[-600:]}")
    dev_last, dev_acked = (int(x) for x in done[-1].split()[1:3])
    shutil.copyfile(flashdir / "spasmlog.bin", run.flash_path)
    run.records_logged = dev_last
    acc = st.sync_accounting(run.device_key)
    run.records_synced = acc["records"]
    run.sync_info = {**acc, "ble": {k: getattr(res, k) for k in ("records", "duplicates", "batches", "notifications",
                                                                 "bytes_rx", "restarts", "mtu", "acked_seq",
                                                                 "elapsed_s")}}
    run.sync_info.pop("missing_seqs", None)
    el = time.perf_counter() - t0
    return StageResult("sync", TITLE,
                       provider="spasmtrack.ble.sync (bleak, Bumble backend) over the virtual radio; "
                                "firmware/device/ble_peripheral.py on the sim board",
                       detail=(f"{res.records} records in {res.batches} batches, {res.notifications} notifications, "
                               f"MTU {res.mtu}, {res.bytes_rx} bytes; device log last seq {dev_last}, acked "
                               f"{dev_acked}; database holds {acc['records']} (missing seqs: "
                               f"{len(acc['missing_seqs'])}); {el:.1f} s"))


async def _sync_once(radio: BumbleRadio, st: Store, key: str, dev: subprocess.Popen[bytes]) -> SyncResult:
    """The patient pairs first (the device's pairing window is open: it advertises a neutral
    name and shows a passkey), then the host syncs with the bond."""
    assert dev.stdout is not None
    stdout = dev.stdout

    def shown() -> int:    # the passkey the device shows (its LED code), typed by the patient
        line = stdout.readline().decode()
        if not line.startswith("PASSKEY"):
            raise RuntimeError(f"sim board showed no passkey: {line.strip()}")
        return int(line.split()[1])

    try:
        await pair_by_name("ST-demo", shown, radio)
        return await sync_device(DEVICE_MAC, st, key, backend=radio)
    finally:
        await close_adapter()
