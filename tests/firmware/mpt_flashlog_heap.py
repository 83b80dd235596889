# mpy-heapsize: 96K
# The flash log in the heap of an ESP32 with BLE active: real 4 KB sectors, a file-backed
# flash, rotation and a full read pass, all inside 96K (together with this test's own code).
import gc
import os

from core.flashlog import FlashLog
from core import records as R
from flash_storage import FileFlash
from mpunit import assert_equal

PATH = "/tmp/spasmtrack_mpt_flashlog_heap.bin"


def test_log_with_4k_sectors_fits_in_96k_heap():
    try:
        os.remove(PATH)
    except OSError:
        pass
    try:
        gc.collect()
        base = gc.mem_alloc()
        fl = FileFlash(PATH, 4096, 12)          # 2 ack + 10 log sectors
        log = FlashLog(fl)
        gc.collect()
        held = gc.mem_alloc() - base            # the log object, its buffers and the sim flash
        ev = [1, 0, 900, R.KIND_SPASM, 0, 0, 5000, 2000, 4000, 0, 300, 120, 0xFFFF, 2]
        for i in range(1000):                   # ~48 KB: rotates through the whole ring
            ev[R.EV_ONSET_MS] = i * 1000
            log.append(R.TYPE_EVENT, ev)
        assert log.rotations >= 2, log.rotations
        buf = bytearray(R.MAX_FRAME)
        n_read = 0
        for n in log.read_from(1, buf):
            n_read += 1
        log2 = FlashLog(fl)                     # reopen: recovery scan of 4 KB sectors
        assert_equal(log2.last_seq, log.last_seq)
        fl.close()
        print("held bytes:", held, "records readable:", n_read)
        # FileFlash keeps a 4 KB scratch sector (sim only); the log itself holds far less
        assert held < 4096 + 3000, held
        assert n_read > 700, n_read
    finally:
        try:
            os.remove(PATH)
        except OSError:
            pass
