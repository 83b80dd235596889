# Board entry point (kept as source on the board; the firmware itself is compiled .mpy).
from device import runtime as device

if __name__ == "__main__":
    device.main()
