# MicroPython manifest fragment: the spasmtrack firmware, frozen into the image.
# Included by boards/<board>/manifest.py (see boards/README.md, "Frozen firmware").
# Relative paths are relative to this file's folder. Frozen, the modules' bytecode,
# qstrs and constant objects stay in flash instead of the heap. main.py is not frozen:
# it stays a file on the board's filesystem (the board runs it at boot).
# tests/test_boards_manifest.py checks that this list matches firmware/ and mpybuild.
FIRMWARE = "../firmware"

# core/dsp_plain.py (the float twins of the viper kernels) stays on the host: HOST_ONLY.
package("core", files=["__init__.py", "clonus.py", "context.py", "detconfig.py", "detector.py", "dsp.py",
                       "dspchain.py", "events.py", "flashlog.py", "floor.py", "fwinfo.py", "mains.py", "quality.py",
                       "racp.py", "records.py", "screen.py", "screen_table.py"], base_path=FIRMWARE)
package("device", base_path=FIRMWARE)
package("drivers", base_path=FIRMWARE)
# the file-backed log storage, used when the partition table has no 'spasmlog' partition
module("flash_storage.py", base_path="sim")
