# Minimal test runner executed *inside* the MicroPython unix port.
# tests/mpy_plugin.py starts `micropython -c "import mpunit; mpunit.main('mpt_x', 'run')"`
# and parses the tagged lines below into pytest results, one per test function.
import sys


class SkipTest(Exception):
    """Raise in a firmware test to report it as skipped, with the reason."""


def _names(mod):
    return sorted(n for n in dir(mod) if n.startswith("test_") and callable(getattr(mod, n)))


def main(modname, mode):
    try:
        mod = __import__(modname)
    except BaseException as e:  # an import failure must fail the suite, with its traceback
        print("@@IMPORTFAIL")
        sys.print_exception(e, sys.stdout)
        print("@@END")
        return
    names = _names(mod)
    if mode == "list":
        for n in names:
            print("@@TEST", n)
        print("@@END")
        return
    for n in names:
        print("@@BEGIN", n)
        try:
            getattr(mod, n)()
        except SkipTest as e:
            print("@@SKIP", n, e.args[0] if e.args else "")
            continue
        except BaseException as e:
            print("@@FAIL", n)
            sys.print_exception(e, sys.stdout)
            continue
        print("@@PASS", n)
    print("@@END")


def assert_equal(a, b, msg=""):
    if a != b:
        raise AssertionError("%r != %r %s" % (a, b, msg))


def assert_raises(exc, fn, *args, **kw):
    """Call fn and return the exception of type exc it raised; fail if it did not."""
    try:
        fn(*args, **kw)
    except exc as e:
        return e
    raise AssertionError("%s not raised by %s" % (exc.__name__, fn))


class raises:
    """Context manager: the block must raise ``exc`` whose message contains ``text``."""

    def __init__(self, exc, text=""):
        self.exc = exc
        self.text = text
        self.value = None

    def __enter__(self):
        return self

    def __exit__(self, etype, value, tb):
        if etype is None:
            raise AssertionError("%s not raised" % self.exc.__name__)
        if not issubclass(etype, self.exc):
            return False
        msg = str(value)
        if self.text not in msg:
            raise AssertionError("%s message %r lacks %r" % (self.exc.__name__, msg, self.text))
        self.value = value
        return True
