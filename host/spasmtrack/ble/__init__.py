"""BLE link to the device: bleak-based sync, the Bumble backend for bleak, the virtual radio.

- :mod:`.radio`: virtual radio process (Bumble LocalLink, one controller per participant,
  HCI over a Unix socket, watchdog for participants that die).
- :mod:`.simbridge`: Bumble host stack for each sim board's MicroPython ``bluetooth``.
- :mod:`.protocol`: the GATT layout and record-access control point shared with the firmware.
- :mod:`.bumble_backend`: bleak ``BaseBleakClient``/``BaseBleakScanner`` on a Bumble device.
- :mod:`.sync`: resume-from-last-seq sync into the store.
"""
