"""The sim board's filesystem as a board reports it.

The board's files live in a host folder (the flash folder, the board's current directory),
reached through the unix port's ``VfsPosix``. Left alone, ``os.statvfs`` would report the
host's disk and ``os.ilistdir`` would give no file sizes, so ``mpremote df`` and ``fs ls``
would not describe a board. ``install()`` mounts this thin wrapper at ``/`` instead: every
call goes to the same ``VfsPosix`` (same paths, same current directory), except that
``statvfs`` reports a 2 MiB filesystem of 4 KiB blocks (the ESP32 port's default
filesystem partition, 0x200000 bytes) filled by what the flash folder holds, each file
rounded up to whole blocks, and ``ilistdir`` gives each file's size as littlefs does.
"""
import os

import vfs
from micropython import const

FS_BYTES = const(2097152)   # ESP32 port default partition table: vfs 0x200000
BLOCK = const(4096)
_DIR = const(0x4000)


def _join(d, name):
    if not d or d == ".":
        return name
    return d + name if d.endswith("/") else d + "/" + name


class SimFlashFS:
    """``VfsPosix`` with a board-sized ``statvfs`` and sized ``ilistdir`` entries."""

    def __init__(self, inner, root):
        self._v = inner
        self._root = root       # host path of the flash folder

    def __str__(self):
        return "<SimFlash>"

    __repr__ = __str__

    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def ilistdir(self, path):
        for e in self._v.ilistdir(path):
            size = 0
            if not e[1] & _DIR:
                try:
                    size = self._v.stat(_join(path, e[0]))[6]
                except OSError:
                    pass
            yield (e[0], e[1], e[2], size)

    def _blocks(self, d):
        n = 1
        for e in self._v.ilistdir(d):
            p = _join(d, e[0])
            if e[1] & _DIR:
                n += self._blocks(p)
            else:
                try:
                    n += (self._v.stat(p)[6] + BLOCK - 1) // BLOCK
                except OSError:
                    pass
        return n

    def statvfs(self, path):
        total = FS_BYTES // BLOCK
        free = max(0, total - self._blocks(self._root))
        return (BLOCK, BLOCK, total, free, free, 0, 0, 0, 0, 255)

    def open(self, path, mode):
        return self._v.open(path, mode)

    def stat(self, path):
        return self._v.stat(path)

    def chdir(self, path):
        return self._v.chdir(path)

    def getcwd(self):
        return self._v.getcwd()

    def mkdir(self, path):
        return self._v.mkdir(path)

    def remove(self, path):
        return self._v.remove(path)

    def rename(self, a, b):
        return self._v.rename(a, b)

    def rmdir(self, path):
        return self._v.rmdir(path)


def install():
    """Mount the wrapper at / over the unix port's VfsPosix; the current directory (the
    flash folder) stays where it was."""
    cwd = os.getcwd()
    for v, mp in vfs.mount():
        if mp == "/" and not isinstance(v, SimFlashFS):
            vfs.umount("/")
            vfs.mount(SimFlashFS(v, cwd), "/")
            os.chdir(cwd)
            return
