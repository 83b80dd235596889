"""Sync a device's records into the store over BLE (bleak; any backend).

One sync: connect (pair if not bonded; the data needs an encrypted, bonded link), set the
device clock through Current Time (the device logs a TIME_ANCHOR record, synced below),
then ask the record-access control point to report from ``store.last_seq(device) + 1``.
Notifications are reassembled into frames; every frame is checked with the firmware's own
record definition (magic, length, CRC). Frames are accepted only with strictly increasing
seq; a notification counter jump (lost or reordered notification) or a frame that does
not verify makes the sync commit what it has, abort the report and ask again from the
last stored seq. Each batch is stored in ONE transaction, and only after the commit is
the device told it may reclaim those records (DELETE <= last stored seq). A link that
drops mid-sync loses nothing: the next sync resumes after the last committed record, and
a duplicate frame is recognised by the store (same seq, same bytes).

Stalls are normal on a radio link (a phone backgrounds the app, the device is busy, the
host is starved): when the device has been silent for ``idle_timeout_s`` the sync commits
what it has, probes the link with a read of the status characteristic and, if the link is
alive, aborts the report and asks again from the last stored seq (``SyncResult.silences``).
Only ``max_silences`` silences in a row without progress end the sync. :func:`sync_device`
reconnects (``reconnects`` times, fresh connection each) when the link is lost or stays
silent; a device that is truly gone ends with :class:`SyncError` after at most
``(reconnects + 1)`` connect timeouts.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

from bleak import BleakClient
from bleak.exc import BleakError, BleakGATTProtocolError, BleakGATTProtocolErrorCode
from bumble.core import BaseBumbleError

from .. import records as rec
from . import protocol as P
from .bumble_backend import BumbleRadio, backends


class RecordSink(Protocol):
    """What the sync needs from the store (``spasmtrack.store.Store`` provides it)."""

    def last_seq(self, device_key: str) -> int: ...

    def insert_records(self, device_key: str, frames: Iterable[bytes]) -> Any: ...

    def note_host_bond(self, device_key: str, peer_id: int) -> None: ...


class SyncError(Exception):
    """The sync could not complete (link lost, device refused); what was committed stays."""


@dataclass
class SyncResult:
    device_key: str
    start_seq: int = 0
    last_seq: int = 0              # highest seq stored after this sync
    acked_seq: int = 0             # what the device was told it may reclaim
    records: int = 0               # new records stored
    duplicates: int = 0
    batches: int = 0
    notifications: int = 0
    bytes_rx: int = 0              # record payload bytes received (ATT values)
    restarts: int = 0              # reports re-asked after a gap, reorder or bad frame
    silences: int = 0              # idle timeouts survived (link probed, report re-asked)
    reconnects: int = 0            # new connections after a lost or silent link
    rejected_frames: int = 0
    busy_writes: int = 0           # writes the device's stack refused for want of a buffer
    peer_id: int = 0               # the id the device knows this host's bond by
    #: ACK records naming another bond: (from_seq, peer_id) - someone else acknowledged
    foreign_acks: list[tuple[int, int]] = field(default_factory=list)
    dup_notifications: int = 0     # identical notifications received twice (dropped)
    time_set_unix: int | None = None
    mtu: int = 23
    elapsed_s: float = 0.0
    by_type: dict[int, int] = field(default_factory=dict)

    def summary(self) -> str:
        types = ", ".join(f"{rec.TYPE_NAMES.get(t, t)} {n}" for t, n in sorted(self.by_type.items()))
        return (f"{self.device_key}: {self.records} new records ({types or 'none'}) up to seq "
                f"{self.last_seq}, acked {self.acked_seq}; {self.bytes_rx} bytes in "
                f"{self.notifications} notifications (MTU {self.mtu}) in {self.elapsed_s:.2f} s; "
                f"{self.duplicates} duplicates, {self.restarts} re-asks, "
                f"{self.rejected_frames} rejected frames" + "".join(
                    f"; WARNING: records from seq {s} on were acknowledged by another host "
                    f"(bond id {p:04x}), not this one" for s, p in self.foreign_acks))


class _Reassembler:
    """Notifications -> verified frames, following the header counter."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.expect: int | None = None
        self.broken = False
        self.last_hdr_payload: bytes | None = None
        self.dup_notifications = 0

    def feed(self, value: bytes) -> list[bytes] | None:
        """Frames completed by this notification; None when the stream broke."""
        if not value:
            return []
        hdr = value[0]
        counter = hdr & P.HDR_COUNTER_MASK
        if self.expect is not None and counter == (self.expect - 1) & P.HDR_COUNTER_MASK \
                and bytes(value) == self.last_hdr_payload:
            self.dup_notifications += 1
            return []                           # the same notification twice: drop it
        if self.expect is not None and counter != self.expect:
            self.broken = True
            return None
        if self.expect is None and hdr & P.HDR_CONT:
            self.broken = True
            return None
        self.expect = (counter + 1) & P.HDR_COUNTER_MASK
        self.last_hdr_payload = bytes(value)
        self.buf += value[1:]
        out: list[bytes] = []
        while len(self.buf) >= rec.HEADER_LEN:
            n = rec.frame_len(self.buf, 0)
            if n <= 0:
                self.broken = True
                return None
            if len(self.buf) < n:
                break
            frame = bytes(self.buf[:n])
            del self.buf[:n]
            out.append(frame)
        return out


#: A write the device's stack refused for want of a buffer (ATT 0x11 Insufficient
#: Resources: its pool is busy with notifications) is tried again this often, this far apart.
BUSY_RETRIES = 100
BUSY_PAUSE_S = 0.05


async def write(client: BleakClient, uuid: str, data: bytes,
                res: SyncResult | None = None) -> None:
    """Write with response; a transient ATT 0x11 is retried after a short pause (the
    device's notifications hold its buffers; they drain within a connection event or two)."""
    for attempt in range(BUSY_RETRIES + 1):
        try:
            await client.write_gatt_char(uuid, data, response=True)
            return
        except BleakGATTProtocolError as exc:
            if exc.code != BleakGATTProtocolErrorCode.INSUFFICIENT_RESOURCE \
                    or attempt == BUSY_RETRIES:
                raise
            if res is not None:
                res.busy_writes += 1
            await asyncio.sleep(BUSY_PAUSE_S)


async def _read_clock_and_set(client: BleakClient, tz_quarter_h: int, res: SyncResult) -> int:
    await write(client, P.uuid16(P.LOCAL_TIME_UUID16), bytes([tz_quarter_h & 0xFF, 0]), res)
    # the fraction of the second travels in Fractions256; the device anchors to the ms
    now = time.time()
    await write(client, P.uuid16(P.CURRENT_TIME_UUID16), P.unix_to_cts(now), res)
    return int(now)


class _Silent(Exception):
    """The device sent nothing for the idle timeout (internal to :func:`sync_client`)."""


async def _probe(client: BleakClient, timeout_s: float) -> bool:
    """True when a GATT round trip (read of the status characteristic) still completes."""
    if not client.is_connected:
        return False
    try:
        await asyncio.wait_for(client.read_gatt_char(P.STATUS_UUID), timeout_s)
    except Exception:  # noqa: BLE001 - any failure here means: no usable link
        return False
    return client.is_connected


async def sync_client(client: BleakClient, sink: RecordSink, device_key: str, *,
                      batch: int = 256, set_clock: bool = True, tz_quarter_h: int = 0,
                      idle_timeout_s: float = 5.0, max_restarts: int = 8,
                      max_silences: int = 3,
                      progress: Callable[[SyncResult], None] | None = None,
                      result: SyncResult | None = None) -> SyncResult:
    """Run one sync on a connected (and paired) client; see the module docstring.

    ``idle_timeout_s`` (s): device silence before the link is probed and the report asked
    again; ``max_silences``: silences in a row without a new stored record before
    :class:`SyncError`. ``result``: accumulate into this result (reconnects)."""
    res = result if result is not None else SyncResult(device_key=device_key)
    res.mtu = client.mtu_size
    t0 = time.perf_counter()
    # ONE queue for notifications and control-point responses keeps their order on the link
    q: asyncio.Queue = asyncio.Queue()

    def on_rec(_c: Any, data: bytearray) -> None:
        q.put_nowait((True, bytes(data)))

    def on_rsp(_c: Any, data: bytearray) -> None:
        q.put_nowait((False, bytes(data)))

    await client.start_notify(P.RACP_UUID, on_rsp)
    await client.start_notify(P.RECORDS_UUID, on_rec)
    res.peer_id = P.decode_status(bytes(await client.read_gatt_char(P.STATUS_UUID)))["peer_id"]
    # before any record is stored: this host's own ACK records are then never "unknown"
    sink.note_host_bond(device_key, res.peer_id)
    if set_clock:
        res.time_set_unix = await _read_clock_and_set(client, tz_quarter_h, res)

    pending: list[bytes] = []
    outstanding = [0]          # DELETE responses not yet received
    last_accepted = sink.last_seq(device_key)
    if result is None or not res.start_seq:
        res.start_seq = last_accepted + 1
    res.last_seq = max(res.last_seq, last_accepted)
    silent_in_a_row = 0

    async def commit() -> None:
        nonlocal pending, silent_in_a_row
        if not pending:
            return
        r = sink.insert_records(device_key, pending)        # one transaction
        res.batches += 1
        res.records += r.inserted
        res.duplicates += r.duplicates
        for t, n in getattr(r, "by_type", {}).items():
            res.by_type[t] = res.by_type.get(t, 0) + n
        pending = []
        if int(r.last_seq) > res.last_seq:
            silent_in_a_row = 0                              # progress: the link works
        res.last_seq = max(res.last_seq, int(r.last_seq))
        # only now may the device reclaim what is committed
        await write(client, P.RACP_UUID, P.delete_to(res.last_seq), res)
        res.acked_seq = res.last_seq
        outstanding[0] += 1
        if progress is not None:
            progress(res)

    async def get() -> tuple[bool, bytes]:
        try:
            return await asyncio.wait_for(q.get(), idle_timeout_s)
        except asyncio.TimeoutError:
            raise _Silent() from None

    async def silence() -> None:
        """Bounded handling of a silent device: commit, probe the link, count it."""
        nonlocal silent_in_a_row
        if client.is_connected:
            await commit()
        res.silences += 1
        silent_in_a_row += 1
        if not await _probe(client, idle_timeout_s):
            raise SyncError(f"device silent for {idle_timeout_s:g} s and the link does not "
                            "answer (link lost?)")
        if silent_in_a_row > max_silences:
            raise SyncError(f"device silent {silent_in_a_row} times for {idle_timeout_s:g} s "
                            "without progress; giving up")

    async def skip_to_abort_response() -> None:
        # skip the rest of that report: the device answers ABORT once it has stopped
        # (a REPORT response of a report that had just finished may come before it)
        while True:
            try:
                is_note, value = await get()
            except _Silent:
                await silence()
                await write(client, P.RACP_UUID, P.abort(), res)
                continue
            if is_note or len(value) < 4 or value[0] != P.OP_RSP:
                continue
            if value[2] == P.OP_DELETE:
                outstanding[0] -= 1
            elif value[2] == P.OP_ABORT:
                return

    done = False
    while not done:
        if not client.is_connected:
            raise SyncError("link lost")
        asm = _Reassembler()
        await write(client, P.RACP_UUID, P.report_from(res.last_seq + 1), res)
        broken = silent = False
        while True:
            try:
                is_note, value = await get()
            except _Silent:
                await silence()
                broken = silent = True
                break
            if not is_note:
                if len(value) < 4 or value[0] != P.OP_RSP:
                    continue
                if value[2] == P.OP_DELETE:
                    outstanding[0] -= 1
                    if value[3] != P.RSP_SUCCESS:
                        raise SyncError("device refused acknowledgement: "
                                        f"{P.RSP_NAMES.get(value[3], value[3])}")
                    continue
                if value[2] == P.OP_REPORT:
                    if value[3] not in (P.RSP_SUCCESS, P.RSP_NO_RECORDS):
                        raise SyncError(f"report failed: {P.RSP_NAMES.get(value[3], value[3])}")
                    if asm.buf:
                        broken = True      # the stream ended inside a frame
                    done = not broken
                    break
                continue
            res.notifications += 1
            res.bytes_rx += len(value)
            frames = asm.feed(value)
            if frames is None:
                broken = True
            else:
                last_accepted = _accept(frames, pending, res, last_accepted)
                if last_accepted < 0:
                    broken = True
            if broken:
                break
            if len(pending) >= batch:
                await commit()
        res.dup_notifications += asm.dup_notifications
        if broken:
            if not silent:
                res.restarts += 1
            await commit()
            last_accepted = res.last_seq
            if res.restarts > max_restarts:
                raise SyncError(f"gave up after {res.restarts} re-asks")
            if not done:
                await write(client, P.RACP_UUID, P.abort(), res)
                await skip_to_abort_response()
            done = False
    await commit()
    # the device confirms each acknowledgement (it handles it after the write returns)
    while outstanding[0] > 0:
        try:
            is_note, value = await get()
        except _Silent:
            await silence()
            # acknowledgements are idempotent: ask again for the confirmation
            await write(client, P.RACP_UUID, P.delete_to(res.last_seq), res)
            outstanding[0] = 1
            continue
        if not is_note and len(value) >= 4 and value[0] == P.OP_RSP and value[2] == P.OP_DELETE:
            outstanding[0] -= 1
            if value[3] != P.RSP_SUCCESS:
                raise SyncError("device refused acknowledgement: "
                                f"{P.RSP_NAMES.get(value[3], value[3])}")
    res.elapsed_s += time.perf_counter() - t0
    return res


def _accept(frames: list[bytes], pending: list[bytes], res: SyncResult, last: int) -> int:
    """Verify frames and append the new ones; returns the new last seq, or -1 on a bad one."""
    for fr in frames:
        try:
            _rtype, seq, _vals, n = rec.unpack_from(fr, 0)
        except rec.RecordError:
            res.rejected_frames += 1
            return -1
        if n != len(fr):
            res.rejected_frames += 1
            return -1
        if seq <= last:
            res.duplicates += 1      # already have it (a duplicated notification)
            continue
        if _rtype == rec.TYPE_ACK:
            vals = rec.to_dict(_rtype, _vals)
            if vals["peer_id"] != res.peer_id:
                res.foreign_acks.append((int(vals["from_seq"]), int(vals["peer_id"])))
        pending.append(fr)
        last = seq
    return last


async def sync_device(address: str, sink: RecordSink, device_key: str | None = None,
                      *, timeout_s: float = 20.0, reconnects: int = 2,
                      backend: BumbleRadio | None = None, **kwargs: Any) -> SyncResult:
    """Connect to ``address`` (pairing if needed) and :func:`sync_client`.

    ``timeout_s`` (s): connect timeout per attempt. A link lost or silent mid-sync is
    reconnected up to ``reconnects`` times (the sync resumes after the last stored record);
    then, or when the device cannot be reached, :class:`SyncError` (chained to the cause).
    ``backend``: a Bumble radio to sync over; default ``$SPASMTRACK_BLE_RADIO`` if set, else
    the computer's Bluetooth."""
    be = backends(backend)
    key = device_key or address.upper()
    res = SyncResult(device_key=key)
    attempt = 0
    while True:
        options: dict[str, Any] = {"backend": be["client"]} if be else {}
        if backend is not None:
            options["radio"] = backend          # passed through bleak to BumbleClient
        client = BleakClient(address, timeout=timeout_s, pair=True, **options)
        try:
            await client.connect()
            return await sync_client(client, sink, key, result=res, **kwargs)
        except (SyncError, BleakError, BaseBumbleError, OSError, asyncio.TimeoutError) as exc:
            if attempt >= reconnects:
                if isinstance(exc, SyncError):
                    raise
                raise SyncError(f"{address}: {exc or type(exc).__name__}") from exc
            attempt += 1
            res.reconnects += 1
        finally:
            try:
                await client.disconnect()
            except Exception:  # noqa: BLE001 - the link may already be gone
                pass
