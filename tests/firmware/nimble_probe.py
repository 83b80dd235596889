# Probe of the sim board's `bluetooth` module for tests/test_ble_nimble.py: a minimal
# peripheral that prints what the stack does ("P <repr of a tuple>" lines) and obeys
# commands on stdin. Run: micropython nimble_probe.py SCENARIO
#   config    - config() before active(): what raises, what does not
#   activate  - IRQ handler registered before active(True): the secret IRQs of activation
#   late      - IRQ handler registered after active(True)
#   serve     - one characteristic (read/write/notify/indicate, *_AUTHENTICATED), passkey
#               123456 displayed; stdin: "notify N", "indicate2", "indicate_bad", "quit"
import sys

import bluetooth

_PASSKEY = 123456


def show(*a):
    print("P", repr(a))


def main(scn):
    ble = bluetooth.BLE()
    if scn == "config":
        for k, v in (("mtu", 247), ("addr_mode", 2)):
            try:
                ble.config(**{k: v})
                show("ok", k)
            except OSError as e:
                show("err", k, e.errno)
        for q in ("mac", "mtu"):
            try:
                ble.config(q)
                show("ok", q)
            except OSError as e:
                show("err", q, e.errno)
        ble.config(gap_name="probe", bond=True, mitm=True, io=0, le_secure=True)
        show("ok", "gap_name+security")
        return
    store = {}
    conn = [None]

    def irq(e, d):
        if e == 29:
            t, i, k = d
            show("get", t, i, None if k is None else bytes(k))
            if k is None:
                vals = [v for (tt, _), v in store.items() if tt == t]
                return vals[i] if i < len(vals) else None
            return store.get((t, bytes(k)))
        if e == 30:
            t, k, v = d
            show("set", t, bytes(k), None if v is None else bytes(v))
            if v is None:
                store.pop((t, bytes(k)), None)
            else:
                store[(t, bytes(k))] = bytes(v)
            return True
        if e == 28:
            show("enc", d)
        elif e == 31:
            ble.gap_passkey(d[0], d[1], _PASSKEY)
            show("passkey", d[1])
        elif e == 1:
            conn[0] = d[0]
            show("connect")
        elif e == 3:
            show("write", bytes(ble.gatts_read(d[1])))
        elif e == 20:
            show("inddone", d[0], d[1], d[2])
        return None

    if scn == "late":
        ble.active(True)
        ble.irq(irq)
    else:
        ble.irq(irq)
        ble.active(True)
    show("active")
    if scn != "serve":
        return
    ble.config(bond=True, le_secure=True, mitm=True, io=0, mtu=247)
    flags = 0x0002 | 0x0008 | 0x0010 | 0x0020 | 0x0400 | 0x2000   # *_AUTHENTICATED
    svc = (bluetooth.UUID(0xFFF0), ((bluetooth.UUID(0xFFF1), flags),))
    ((h,),) = ble.gatts_register_services((svc,))
    ble.gatts_write(h, b"secret")
    ble.gap_advertise(50000, b"\x02\x01\x06\x06\x09probe")
    show("ready")
    import select
    p = select.poll()
    p.register(sys.stdin, select.POLLIN)
    while True:
        for _ in p.ipoll(20):
            cmd = sys.stdin.readline().split()
            if not cmd or cmd[0] == "quit":
                return
            if cmd[0] == "notify":
                sent = 0
                err = 0
                for _ in range(int(cmd[1])):
                    try:
                        ble.gatts_notify(conn[0], h, b"n" * 100)
                        sent += 1
                    except OSError as e:
                        err = e.errno
                        break
                show("notified", sent, err)
            elif cmd[0] == "indicate2":
                ble.gatts_indicate(conn[0], h, b"i1")
                ble.gatts_indicate(conn[0], h, b"i2")      # no EALREADY: queued
                show("indicated", 2)
            elif cmd[0] == "indicate_bad":
                try:
                    ble.gatts_indicate(999, h, b"x")
                    show("indicated", 1)
                except OSError as e:
                    show("raised", e.errno)


main(sys.argv[1])
