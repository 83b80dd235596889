"""The virtual radio: per-participant controllers over HCI and the supervision-timeout watchdog."""
from __future__ import annotations

import asyncio

from bumble import hci
from bumble.device import Device
from bumble.transport import open_transport

from spasmtrack.ble.radio import CONNECTION_TIMEOUT, Radio


async def _device(spec: str, addr: str) -> tuple[Device, object]:
    t = await open_transport(spec)
    d = Device.with_hci(addr, hci.Address(addr, hci.Address.RANDOM_DEVICE_ADDRESS), t.source, t.sink)
    await d.power_on()
    return d, t


def test_dead_participant_ends_the_link_like_a_supervision_timeout(tmp_path):
    async def scenario():
        radio = Radio(supervision_timeout_s=0.2)
        path = str(tmp_path / "hci.sock")
        await radio.serve(path)
        periph, pt = await _device(f"unix:{path}", "F0:00:00:00:00:0A")
        central, ct = await _device(f"unix:{path}", "C0:00:00:00:00:0B")
        assert len(radio.link.controllers) == 2
        await periph.start_advertising(auto_restart=False)
        conn = await central.connect(hci.Address("F0:00:00:00:00:0A", hci.Address.RANDOM_DEVICE_ADDRESS))
        reason = asyncio.get_running_loop().create_future()
        conn.on("disconnection", lambda r: reason.done() or reason.set_result(r))
        await pt.close()                      # the peripheral's process dies: no LL_TERMINATE
        got = await asyncio.wait_for(reason, 5)
        left = len(radio.link.controllers)
        await ct.close()
        radio.server.close()
        return got, left

    got, left = asyncio.run(scenario())
    assert got == CONNECTION_TIMEOUT == 0x08
    assert left == 1          # the dead participant's controller left the link
