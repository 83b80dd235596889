# Board entry point (kept as source on the board; the firmware itself is compiled .mpy).
import device

if __name__ == "__main__":
    device.main()
