"""Host view of the device record layout.

The layout itself is defined once, in ``firmware/core/records.py``; this module loads that very file
(through :mod:`spasmtrack.firmware`) and re-exports its constants, so the host can never drift
from the device. On top it adds typed helpers: :class:`Record`, :func:`decode_frame`,
:func:`decode_stream` and :func:`encode`. Units of every field are documented in the firmware
module's docstring (``fw.__doc__``): ms of device time, 0.01 uV, 0.1 s, ...
"""
from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Iterable

from spasmtrack import firmware


#: The firmware module itself (``fw.pack_into``, ``fw.unpack_from``, ``fw.FIELDS``, ...).
fw: ModuleType = firmware.core("records")

# Re-export every public constant and table of the firmware module (TYPE_*, KIND_*, FLAG_*,
# EV_*, SM_*, ERR_*, FIELDS, MAX_FRAME, ...).
for _name in dir(fw):
    if _name.isupper() and not _name.startswith("_"):
        globals()[_name] = getattr(fw, _name)
RecordError = fw.RecordError
pack_into = fw.pack_into
unpack_from = fw.unpack_from
frame_size = fw.frame_size
frame_len = fw.frame_len
valid_len = fw.valid_len
to_dict = fw.to_dict
name_code = fw.name_code
FIELDS: dict[int, tuple[tuple[str, str], ...]] = fw.FIELDS
TYPE_NAMES: dict[int, str] = fw.TYPE_NAMES
TYPE_BY_NAME: dict[str, int] = {v: k for k, v in fw.TYPE_NAMES.items()}
#: EVENT ``kind`` -> the name the host uses in reports, JSON and truth files.
KIND_NAMES: dict[int, str] = {fw.KIND_SPASM: "spasm", fw.KIND_CLONUS: "clonus",
                              fw.KIND_SPASM_WITH_CLONUS: "spasm_with_clonus"}

def __getattr__(name: str) -> Any:
    """Only reached for a name the firmware module does not define (its public names are
    copied in above); declared so type checkers know this module re-exports them."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class StreamError(ValueError):
    """A byte stream that does not decode cleanly; names the offset, frame index and reason."""

    def __init__(self, message: str, offset: int, index: int, code: int) -> None:
        super().__init__(message)
        self.offset = offset      # byte offset of the bad frame in the stream
        self.index = index        # 0-based index of the bad frame
        self.code = code          # one of records.ERR_*


@dataclass(frozen=True)
class Record:
    """One decoded frame. ``fields`` maps FIELDS names to ints in the units of firmware/core/records.py."""

    rtype: int
    seq: int
    fields: dict[str, int]
    raw: bytes

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.rtype]

    @property
    def values(self) -> tuple[int, ...]:
        """Field values in FIELDS order."""
        return tuple(self.fields[name] for name, _ in FIELDS[self.rtype])

    def __getitem__(self, name: str) -> int:
        return self.fields[name]


def decode_frame(data: bytes | bytearray | memoryview, offset: int = 0) -> Record:
    """Decode exactly one frame at ``offset`` (raises records.RecordError)."""
    rtype, seq, values, n = fw.unpack_from(data, offset)
    return Record(rtype, seq, fw.to_dict(rtype, values), bytes(data[offset:offset + n]))


def decode_stream(data: bytes | bytearray | memoryview) -> list[Record]:
    """Decode a concatenation of frames (a BLE sync transfer, a flash dump without padding).

    Raises :class:`StreamError` at the first frame that fails, naming its byte offset, its
    index, the seq of the last good frame and the reason (truncated, bad magic, CRC, ...).
    """
    out: list[Record] = []
    off = 0
    end = len(data)
    while off < end:
        try:
            rec = decode_frame(data, off)
        except fw.RecordError as e:
            last = f"after seq {out[-1].seq}" if out else "at the start"
            raise StreamError(f"frame #{len(out)} at byte {off} of {end} ({last}): {e}",
                              off, len(out), e.code) from e
        out.append(rec)
        off += len(rec.raw)
    return out


def encode(rtype: int | str, seq: int, values: Iterable[int] | None = None, **fields: int) -> bytes:
    """One frame as bytes, from values in FIELDS order or from keyword fields (all required)."""
    t = TYPE_BY_NAME[rtype] if isinstance(rtype, str) else rtype
    if t not in FIELDS:
        raise fw.RecordError(fw.ERR_UNKNOWN_TYPE, f"cannot encode unknown record type {rtype!r}")
    names = [n for n, _ in FIELDS[t]]
    if values is None:
        missing = [n for n in names if n not in fields]
        extra = sorted(set(fields) - set(names))
        if missing or extra:
            raise fw.RecordError(fw.ERR_BAD_VALUE, f"{TYPE_NAMES[t]}: missing fields {missing}, "
                                 f"unknown fields {extra}")
        vals: list[Any] = [fields[n] for n in names]
    else:
        vals = list(values)
        if len(vals) != len(names):
            raise fw.RecordError(fw.ERR_BAD_VALUE, f"{TYPE_NAMES[t]} needs {len(names)} values, "
                                 f"got {len(vals)}")
    buf = bytearray(fw.frame_size(t))
    n = fw.pack_into(buf, 0, t, seq, vals)
    return bytes(buf[:n])
