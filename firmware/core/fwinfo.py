"""Firmware identity, reported in boot records and the BLE status characteristic."""
from micropython import const

FW_VERSION_MAJOR = const(0)
FW_VERSION_MINOR = const(1)
FW_VERSION_PATCH = const(0)
FW_VERSION = "0.1.0"
