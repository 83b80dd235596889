"""Simulated NOR flash for the virtual board: the block-device protocol of esp32.Partition.

``FileFlash(path, block_size, block_count)`` keeps the flash in a file (the sim board's flash
folder); ``RamFlash(block_size, block_count)`` keeps it in a bytearray (fast tests). Both follow
MicroPython's extended block protocol (os.AbstractBlockDev), like ``esp32.Partition``:

- ``readblocks(block, buf, offset=0)``: read len(buf) bytes at block*block_size + offset.
- ``writeblocks(block, buf, offset=None)``: with an offset, PROGRAM len(buf) bytes (no erase);
  without one, erase the block(s) then program (the simple protocol).
- ``ioctl(op, arg)``: 1 init, 2 deinit, 3 sync -> 0; 4 -> block count; 5 -> block size;
  6 -> erase block ``arg`` -> 0.

NOR semantics, as on the ESP32's SPI flash: erase sets every byte of a block to 0xFF; program
can only clear bits (new = old & data), so re-programming a written byte cannot restore it and a
torn program leaves exactly the bytes that made it.

Power-loss simulation: ``power_budget`` (None = unlimited) is the number of bytes that may still
be programmed (an erase costs 1). When a write exceeds it, only the bytes within budget are
programmed, the budget drops to 0 and ``PowerLoss`` is raised; every later write or erase raises
``PowerLoss`` without touching the flash, until ``power_budget`` is set again ("power restored").
"""


class PowerLoss(OSError):
    """The simulated supply died in the middle of a flash write or erase."""


_IOCTL_INIT = 1
_IOCTL_DEINIT = 2
_IOCTL_SYNC = 3
_IOCTL_BLK_COUNT = 4
_IOCTL_BLK_SIZE = 5
_IOCTL_BLK_ERASE = 6


class _NorFlash:
    def __init__(self, block_size, block_count):
        if block_size < 16 or block_count < 1:
            raise ValueError("flash geometry %d x %d bytes is too small" % (block_count, block_size))
        self.block_size = block_size
        self.block_count = block_count
        self.size = block_size * block_count
        self.power_budget = None
        self.erases = 0             # erase operations done (wear statistics)
        self.programmed = 0         # bytes programmed
        self._scratch = bytearray(block_size)

    # subclasses: _read(addr, mv), _write(addr, mv)

    def _check(self, addr, n, what):
        if addr < 0 or addr + n > self.size:
            raise OSError("flash %s of %d bytes at 0x%x is outside 0..0x%x" % (what, n, addr, self.size))

    def readblocks(self, block, buf, offset=0):
        addr = block * self.block_size + offset
        self._check(addr, len(buf), "read")
        self._read(addr, memoryview(buf))

    def writeblocks(self, block, buf, offset=None):
        if offset is None:
            nblk = (len(buf) + self.block_size - 1) // self.block_size
            for i in range(nblk):
                self._erase(block + i)
            offset = 0
        addr = block * self.block_size + offset
        self._check(addr, len(buf), "program")
        self._program(addr, memoryview(buf))

    def ioctl(self, op, arg):
        if op == _IOCTL_BLK_COUNT:
            return self.block_count
        if op == _IOCTL_BLK_SIZE:
            return self.block_size
        if op == _IOCTL_BLK_ERASE:
            self._erase(arg)
            return 0
        if op == _IOCTL_SYNC:
            self._sync()
            return 0
        if op in (_IOCTL_INIT, _IOCTL_DEINIT):
            return 0
        return None

    def _sync(self):
        pass

    def _erase(self, block):
        if not 0 <= block < self.block_count:
            raise OSError("flash erase of block %d outside 0..%d" % (block, self.block_count - 1))
        if self.power_budget is not None:
            if self.power_budget <= 0:
                raise PowerLoss("power lost before erasing block %d" % block)
            self.power_budget -= 1
        s = self._scratch
        for i in range(len(s)):
            s[i] = 0xFF
        self._write(block * self.block_size, memoryview(s))
        self.erases += 1

    def _program(self, addr, data):
        n = len(data)
        cut = False
        if self.power_budget is not None:
            if self.power_budget < n:
                n = self.power_budget
                cut = True
            self.power_budget -= n
        done = 0
        s = self._scratch
        while done < n:
            k = min(n - done, len(s))
            view = memoryview(s)[0:k]
            self._read(addr + done, view)
            for i in range(k):
                s[i] &= data[done + i]
            self._write(addr + done, view)
            done += k
        self.programmed += n
        if cut:
            raise PowerLoss("power lost after programming %d of %d bytes at 0x%x"
                            % (n, len(data), addr))


class RamFlash(_NorFlash):
    """NOR flash held in RAM (``image`` is the bytearray; copy it to snapshot the flash)."""

    def __init__(self, block_size=4096, block_count=256, image=None):
        super().__init__(block_size, block_count)
        if image is None:
            image = bytearray(b"\xff" * self.size)
        elif len(image) != self.size:
            raise ValueError("image has %d bytes, geometry needs %d" % (len(image), self.size))
        self.image = image

    def _read(self, addr, mv):
        mv[:] = memoryview(self.image)[addr:addr + len(mv)]

    def _write(self, addr, mv):
        self.image[addr:addr + len(mv)] = mv


class FileFlash(_NorFlash):
    """NOR flash kept in a file (created erased, i.e. all 0xFF, when missing or short)."""

    def __init__(self, path, block_size=4096, block_count=256):
        super().__init__(block_size, block_count)
        self.path = path
        try:
            f = open(path, "r+b")
        except OSError:
            f = open(path, "w+b")
        f.seek(0, 2)
        have = f.tell()
        if have < self.size:
            chunk = b"\xff" * 256
            left = self.size - have
            while left > 0:
                k = min(left, 256)
                f.write(chunk[:k])
                left -= k
            f.flush()
        self._f = f

    def _read(self, addr, mv):
        self._f.seek(addr)
        self._f.readinto(mv)

    def _write(self, addr, mv):
        self._f.seek(addr)
        self._f.write(mv)
        self._f.flush()

    def _sync(self):
        self._f.flush()

    def close(self):
        self._f.close()
