"""Host view of the BLE wire protocol: loads ``firmware/core/racp.py`` itself (one definition).

UUIDs, control-point opcodes and response codes, the notification header bits, the
Current Time encoding and the status layout all come from the firmware module.
"""
from __future__ import annotations

import struct
from typing import Any

from spasmtrack import firmware


fw = firmware.core("racp")
for _n in dir(fw):
    if _n.isupper() and not _n.startswith("_"):
        globals()[_n] = getattr(fw, _n)
parse = fw.parse
report_from = fw.report_from
count_from = fw.count_from
delete_to = fw.delete_to
abort = fw.abort
cts_to_unix = fw.cts_to_unix
unix_to_cts = fw.unix_to_cts

def __getattr__(name: str) -> Any:
    """Only reached for a name the firmware module does not define (its public names are
    copied in above); declared so type checkers know this module re-exports them."""
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def uuid16(u: int) -> str:
    return f"0000{u:04x}-0000-1000-8000-00805f9b34fb"


def decode_status(b: bytes) -> dict[str, int]:
    """Status characteristic -> dict (names in ``STATUS_FIELDS``)."""
    vals = struct.unpack_from(fw.STATUS_FMT, b)
    return dict(zip(fw.STATUS_FIELDS, vals))


RSP_NAMES = {v: k[4:].lower() for k, v in vars(fw).items() if k.startswith("RSP_")}
