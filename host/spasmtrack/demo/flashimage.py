"""The device's NOR-flash image on the host: the sim board's flash model and the firmware's
own flash log, both run on CPython."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import firmware
from .. import records as rec

if TYPE_CHECKING:
    from .run import DemoRun

BLOCK_SIZE = 4096                    # bytes per erase block
BLOCK_COUNT = 256                    # 1 MB, the device's log partition


def new_flash(image: bytes | None = None) -> Any:
    """A ``RamFlash`` (boards/sim/flash_storage.py: erase to 0xFF, programming clears bits),
    blank or holding ``image``."""
    fs = firmware.board_module("sim", "flash_storage")
    if image is None:
        return fs.RamFlash(BLOCK_SIZE, BLOCK_COUNT)
    return fs.RamFlash(BLOCK_SIZE, len(image) // BLOCK_SIZE, bytearray(image))


def open_log(storage: Any) -> Any:
    """The firmware's ``FlashLog`` (firmware/core/flashlog.py) over ``storage``."""
    return firmware.core("flashlog").FlashLog(storage)


def frames(log: Any, first_seq: int = 1) -> list[bytes]:
    """Every record frame in ``log`` from ``first_seq`` on, oldest first."""
    buf = bytearray(rec.MAX_FRAME)
    return [bytes(buf[:n]) for n in log.read_from(first_seq, buf)]


def image_frames(path: Path) -> dict[int, bytes]:
    """Every record in the flash image file ``path``, by seq."""
    log = open_log(new_flash(path.read_bytes()))
    return {rec.decode_frame(f).seq: f for f in frames(log)}


def device_frames(run: DemoRun) -> dict[int, bytes]:
    """Every record in the device's flash image (after the sync), by seq."""
    if run.flash_path is None:
        raise RuntimeError("no flash image: the device stage has not run")
    return image_frames(run.flash_path)


def flash_used(storage: Any) -> int:
    """Bytes of the blocks that hold anything (first 16 bytes not erased)."""
    img, bs = storage.image, storage.block_size
    blank = b"\xff" * 16
    return int(sum(1 for i in range(0, len(img), bs) if img[i:i + 16] != blank) * bs)
