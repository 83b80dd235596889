# Sample values for every record type, shared by tests/firmware/mpt_records.py (MicroPython)
# and tests/test_records.py (CPython) for the cross-interpreter check. Includes the range
# edges of every field width (0, max u8/u16/u32, negative i8/i32).
from core import records as R

SAMPLES = [
    (R.TYPE_BOOT, 1, (3, R.RESET_WDT, 0x0102, 7, 0xBEEF)),
    (R.TYPE_TIME_ANCHOR, 2, (3, 123456, 1795000000, -20, R.SOURCE_HOST_CTS)),
    (R.TYPE_TIME_ANCHOR, 3, (0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 127, R.SOURCE_MANUAL)),
    (R.TYPE_EVENT, 4, (3, 4000000, 2500, R.KIND_SPASM_WITH_CLONUS, 1,
                       R.FLAG_CLIPPED | R.FLAG_NEAR_THRESHOLD, 123456, 45678, 987654, 612, 1234,
                       456, R.MVC_UNCALIBRATED, 7)),
    (R.TYPE_EVENT, 5, (0, 0, 0, R.KIND_SPASM, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
    (R.TYPE_SUMMARY, 6, (3, 300000, 300, 4, 1, 123, 45, 2900, 100, 0, 17, 2, 850, 87, 7)),
    (R.TYPE_MARK, 7, (3, 301000, R.MARK_DOSE_TAKEN)),
    (R.TYPE_MARK, 8, (3, 302000, R.MARK_FELT_SPASM)),
    (R.TYPE_CONFIG, 9, (7, 12, -2147483648)),
    (R.TYPE_CONFIG, 10, (7, 13, 2147483647)),
    (R.TYPE_LOSS, 11, (1, 0xFFFFFFFE, R.LOSS_ROTATION)),
    (R.TYPE_FAULT, 0xFFFFFFFF, (3, 555, R.FAULT_EXCEPTION, R.name_code("MemoryError"), 1234)),
]
