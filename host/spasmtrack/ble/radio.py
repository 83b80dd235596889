"""Virtual BLE radio: one Bumble ``LocalLink`` with one ``Controller`` per participant.

Every participant (the sim board's BLE stack, the host tool, a test) connects to the
radio's HCI socket (a Unix stream socket, H4 framing) and gets a fresh controller on the
shared link for as long as that socket stays open. Bumble's link has no notion of a
participant dying, so the radio adds a *watchdog*: when a participant's HCI socket
closes (process killed, device rebooted) its controller leaves the link at once and,
after ``supervision_timeout_s``, every peer that was connected to it receives an HCI
Disconnection Complete with reason 0x08 (Connection Timeout), as a real controller
reports a supervision timeout.

The same process can also run the sim-board bridge (:mod:`spasmtrack.ble.simbridge`),
which owns the Bumble host stack of each MicroPython board. Run with::

    python -m spasmtrack.ble.radio DIR [--no-bridge] [--supervision-timeout 0.5]

It writes ``DIR/hci.sock``, ``DIR/bridge.port`` (TCP port on 127.0.0.1) and finally
``DIR/ready``; it exits on SIGTERM/SIGINT. :class:`VirtualRadio` starts and stops it.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from bumble import hci
from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.common import StreamPacketSource

log = logging.getLogger(__name__)

#: HCI reason reported to peers of a participant that vanished (Vol 1, Part F: 0x08).
CONNECTION_TIMEOUT = 0x08
#: LE ACL payload size the virtual controllers advertise (ESP32 supports LE Data Length
#: Extension up to 251 octets; so do current PC adapters).
LE_ACL_OCTETS = 251


class _Sink:
    """HCI packets from a controller to its participant's socket."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self.transport: asyncio.WriteTransport | None = transport

    def on_packet(self, packet: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(packet)


class _Participant(StreamPacketSource):
    """One HCI socket on the radio: the H4 parser feeding its controller."""

    def __init__(self, radio: "Radio") -> None:
        super().__init__()
        self.radio = radio
        self.controller: Controller | None = None
        self.sink: _Sink | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # type: ignore[override]
        assert isinstance(transport, asyncio.WriteTransport)
        self.sink = _Sink(transport)
        self.radio.counter += 1
        ctrl = Controller(f"P{self.radio.counter}", host_source=self, host_sink=self.sink,
                          link=self.radio.link)
        ctrl.le_acl_data_packet_length = LE_ACL_OCTETS
        ctrl.supported_max_tx_octets = LE_ACL_OCTETS
        ctrl.supported_max_rx_octets = LE_ACL_OCTETS
        ctrl.suggested_max_tx_octets = LE_ACL_OCTETS
        self.controller = ctrl
        log.info("participant %s joined", ctrl.name)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.sink is not None:
            self.sink.transport = None
        if self.controller is not None:
            self.radio.participant_died(self.controller)
            self.controller = None


class Radio:
    """The link and the watchdog; :meth:`serve` opens the HCI socket."""

    def __init__(self, supervision_timeout_s: float = 0.5) -> None:
        self.link = LocalLink()
        self.supervision_timeout_s = supervision_timeout_s
        self.counter = 0
        self.server: asyncio.AbstractServer | None = None

    async def serve(self, path: str) -> None:
        if os.path.exists(path):
            os.unlink(path)
        loop = asyncio.get_running_loop()
        self.server = await loop.create_unix_server(lambda: _Participant(self), path)

    def participant_died(self, ctrl: Controller) -> None:
        """Remove a dead participant; its peers see a supervision timeout later."""
        log.info("participant %s left; %d LE connection(s) time out", ctrl.name,
                 len(ctrl.le_connections))
        doomed = []
        for conn in list(ctrl.le_connections.values()):
            doomed.append((conn.self_address, conn.peer_address))
        ctrl.le_connections.clear()
        ctrl.le_legacy_advertiser.enabled = False
        try:
            ctrl.le_legacy_advertiser.stop()
        except Exception:  # noqa: BLE001 - advertiser may not have started
            pass
        for adv in list(ctrl.advertising_sets.values()):
            try:
                adv.stop()
            except Exception:  # noqa: BLE001
                pass
        ctrl.host = None
        if ctrl in self.link.controllers:
            self.link.remove_controller(ctrl)
        if doomed:
            asyncio.get_running_loop().call_later(
                self.supervision_timeout_s, self._time_out, doomed)

    def _time_out(self, doomed: list[tuple[hci.Address, hci.Address]]) -> None:
        for dead_addr, peer_addr in doomed:
            for ctrl in list(self.link.controllers):
                conn = ctrl.le_connections.get(dead_addr)
                if conn is not None and conn.self_address == peer_addr:
                    log.info("supervision timeout on %s (peer %s)", ctrl.name, dead_addr)
                    ctrl.on_le_disconnected(conn, CONNECTION_TIMEOUT)


async def _amain(directory: Path, bridge: bool, supervision_timeout_s: float,
                 watch_stdin: bool = False) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("ready", "bridge.port"):
        (directory / name).unlink(missing_ok=True)
    radio = Radio(supervision_timeout_s)
    hci_path = str(directory / "hci.sock")
    await radio.serve(hci_path)
    if bridge:
        from .simbridge import BridgeServer
        server = BridgeServer(f"unix:{hci_path}")
        port = await server.serve()
        (directory / "bridge.port").write_text(str(port))
    (directory / "ready").write_text(str(os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if watch_stdin:
        # started by VirtualRadio: stdin is a pipe from the parent; EOF = the parent died
        loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not os.read(
            sys.stdin.fileno(), 1) else None)
    await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="folder for hci.sock, bridge.port, ready")
    parser.add_argument("--no-bridge", action="store_true", help="radio only, no sim-board bridge")
    parser.add_argument("--supervision-timeout", type=float, default=0.5,
                        help="seconds before peers of a dead participant see the link drop")
    parser.add_argument("--log", default=os.environ.get("SPASMTRACK_RADIO_LOG", "ERROR"))
    parser.add_argument("--exit-with-stdin", action="store_true",
                        help="exit when stdin closes (the parent process is gone)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log.upper(), format="radio %(levelname)s %(name)s: %(message)s")
    asyncio.run(_amain(args.directory, not args.no_bridge, args.supervision_timeout,
                       args.exit_with_stdin))
    return 0


class VirtualRadio:
    """Start ``python -m spasmtrack.ble.radio`` in a subprocess (context manager).

    ``hci_spec`` is the transport spec for :mod:`spasmtrack.ble.bumble_backend`
    (``unix:DIR/hci.sock``); ``bridge_addr`` is what the sim board's ``bluetooth``
    module reads from ``SPASMTRACK_BLE_BRIDGE``.
    """

    def __init__(self, directory: Path, supervision_timeout_s: float = 0.5,
                 bridge: bool = True, log: Path | None = None) -> None:
        """``log``: a file the radio process's output is appended to (default: inherited)."""
        self.directory = Path(directory)
        self.log = log
        self.supervision_timeout_s = supervision_timeout_s
        self.bridge = bridge
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hci_spec(self) -> str:
        return f"unix:{self.directory / 'hci.sock'}"

    @property
    def bridge_addr(self) -> str:
        return "127.0.0.1:" + (self.directory / "bridge.port").read_text().strip()

    def start(self, timeout_s: float = 20.0) -> "VirtualRadio":
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "ready").unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "spasmtrack.ble.radio", str(self.directory),
               "--supervision-timeout", str(self.supervision_timeout_s), "--exit-with-stdin"]
        if not self.bridge:
            cmd.append("--no-bridge")
        if self.log is None:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
        else:
            with open(self.log, "ab") as out:     # the child keeps its own descriptor
                self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=out)
        deadline = time.monotonic() + timeout_s
        while not (self.directory / "ready").exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"virtual radio exited with code {self.proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("virtual radio did not become ready")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "VirtualRadio":
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
