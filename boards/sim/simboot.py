"""Power-on of the virtual board (the sim-board launcher runs
``micropython -i simboot.py`` with the board's flash folder as the current directory).

Like a real board: attach the simulated parts (from the deployed board.json when there
is one, fed by the signal sources named in the environment), then run ``main.py`` if it
is on the flash, then leave the REPL to mpremote (``-i``). ``machine.reset()`` ends the
process with exit code 100 + cause and the launcher starts it again, which is how
``mpremote ... reset`` and the firmware's own reboots look on the sim board.

Environment: SIM_RESET_CAUSE (set by the launcher), SIM_EMG_STREAM / SIM_EMG_STREAM_HZ
and SIM_IMU_STREAM / SIM_IMU_STREAM_HZ (stream files, see sources.py), SIM_EMG_UV
(a 30 Hz sine of that many uV instead of the quiet baseline).
"""
import os
import sys

# A script's folder replaces sys.path[0]; the board imports from its flash (cwd) first.
if sys.path and sys.path[0] != "":
    sys.path[0] = ""

import simhw  # noqa: E402 (after the path fix)
import sources  # noqa: E402


def _env(name, default=None):
    v = os.getenv(name)
    return v if v else default


def power_on():
    simhw.exit_on_reset[0] = True
    simhw.reset_cause[0] = int(_env("SIM_RESET_CAUSE", "1"))
    try:
        board = simhw.load_board_json("board.json")
    except OSError:
        board = None
    b = board or simhw.load_board_json(simhw._here() + "/board.json")
    ch = b["emg"].get("channels", 1)
    emg = None
    imu = None
    if _env("SIM_EMG_STREAM"):
        emg = sources.StreamEMG(_env("SIM_EMG_STREAM"), int(_env("SIM_EMG_STREAM_HZ", "1000")), ch)
    elif _env("SIM_EMG_UV"):
        emg = sources.Sine(30, float(_env("SIM_EMG_UV")), channels=ch)
    if _env("SIM_IMU_STREAM"):
        imu = sources.StreamIMU(_env("SIM_IMU_STREAM"), int(_env("SIM_IMU_STREAM_HZ", "100")))
    simhw.setup(b, emg, imu)
    # The radio: on a device `bluetooth` is built into the firmware image; here it is a
    # Python bridge (boards/sim/bluetooth.py) compiled at import. Import it now, with the
    # rest of the hardware layer, so its compile-time heap is not taken from the
    # firmware's (a late compile in a fragmented heap fails long before the heap is full).
    try:
        import bluetooth  # noqa: F401
    except ImportError:
        pass
    # df and ls on the board describe a board's flash, not the host's disk
    import simflashfs
    simflashfs.install()


def run_main():
    if _env("SIM_SKIP_MAIN"):
        return  # soft reset from the raw REPL: a board skips main.py and stays in the raw REPL
    try:
        os.stat("main.py")
    except OSError:
        print("sim board: no main.py on the flash; REPL ready")
        return
    try:
        with open("main.py") as f:
            src = f.read()
        exec(src, {"__name__": "__main__"})
    except KeyboardInterrupt:
        print("sim board: main.py interrupted; REPL ready")


power_on()
import gc  # noqa: E402

gc.collect()
SIM_HEAP = gc.mem_alloc()  # the simulated hardware's share of the heap (not on a device)
print("sim board: hardware layer uses %d bytes of heap" % SIM_HEAP)
run_main()
