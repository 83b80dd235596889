"""Firmware identity, reported in boot records and the BLE status characteristic."""
try:
    from micropython import const
except ImportError:  # CPython (the host loads this file through spasmtrack.firmware)
    def const(x):
        return x

FW_VERSION_MAJOR = const(0)
FW_VERSION_MINOR = const(1)
FW_VERSION_PATCH = const(0)
FW_VERSION = "0.1.0"
#: The version as BOOT records and the status characteristic carry it: (major << 8) | minor.
FW_VERSION_U16 = const((FW_VERSION_MAJOR << 8) | (FW_VERSION_MINOR & 0xFF))
