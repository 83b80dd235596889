# mpy-heapsize: 256K  (the sim board's part simulators; the button itself is tested at 96K)
# firmware/device/button.py against the sim board's machine.Pin: edges from simhw.drive() arrive as
# interrupts with the heap locked, time from the virtual clock (ticks wrap at 2**30).
from device.button import MARK_DOSE_TAKEN, Button
from mpt_button import ticks_diff
from mpunit import SkipTest, assert_equal


def test_with_sim_board_machine_pin():
    try:
        import machine
        import simhw
    except ImportError as e:
        raise SkipTest("sim board machine/simhw not available: %s" % e)
    simhw.setup()
    pin = machine.Pin(14, machine.Pin.IN, machine.Pin.PULL_UP)
    marks = []
    clk = simhw.clock
    btn = Button(pin, lambda k, t: marks.append((k, t)), clk.ticks_ms, ticks_diff)

    def hold(ms):
        for _ in range(ms // 5):
            clk.advance(5000)
            btn.poll()

    hold(50)
    t0 = clk.ticks_ms()
    for lvl in (0, 1, 0, 1, 0):                          # bouncing contact, IRQs from simhw
        simhw.drive(14, lvl)
        clk.advance(1000)
    hold(400)
    for lvl in (1, 0, 1):
        simhw.drive(14, lvl)
        clk.advance(1000)
    hold(100)
    assert_equal(marks, [(MARK_DOSE_TAKEN, t0)])
