# FROZEN_MANIFEST for a MicroPython unix-port build with the firmware frozen in, to
# measure the frozen firmware's heap on the sim board (bench/memory.py,
# SPASMTRACK_MICROPYTHON_FROZEN); see boards/README.md, "Frozen firmware".
include("$(MPY_DIR)/extmod/asyncio")
include("../firmware_manifest.py")
module("coeffs.py")
