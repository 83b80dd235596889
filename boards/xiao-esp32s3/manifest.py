# MicroPython FROZEN_MANIFEST for this board: the port's own frozen modules (asyncio,
# ...), the spasmtrack firmware and this board's filter coefficients (coeffs.py).
# Build: see boards/README.md, "Frozen firmware".
include("$(PORT_DIR)/boards/manifest.py")
include("../firmware_manifest.py")
module("coeffs.py")
