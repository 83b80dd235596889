"""Streaming readers of raw recordings (CSV and EDF+/BDF+) for replay and accuracy runs.

A recording is read in chunks (``chunk_s`` seconds), so a 24 h file never needs 24 h of
RAM. Every chunk holds EMG in microvolts (one row per channel) and the IMU in g and
degrees/second (rows ax, ay, az, gx, gy, gz) at the EMG rate (IMU values held between
IMU updates). Bad input raises :class:`RecordingError` naming the line (CSV) or sample
and signal (EDF).

CSV: header ``t_s,emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps``; extra EMG channels as
``emg2_uV``, ``emg3_uV``... Units are part of the column name: time ``s``/``ms``; EMG
``uV``/``mV``/``V``; accelerometer ``g``/``mps2``; gyroscope ``dps``/``rads``. The IMU
columns are all present or all absent (then IMU features are zero and motion artifacts
can only be flagged from the EMG). Time must rise by one sample period per line
(within a quarter period).

EDF+/BDF+ (pyEDFlib): EMG signals are chosen by label (``emg_labels``; default every
signal whose label contains "EMG"), IMU signals by ``acc_labels``/``gyro_labels`` (three
labels each, x y z). Physical dimensions give the units (uV, mV, V; g, m/s^2; deg/s,
dps, rad/s). EMG signals share one rate; IMU signals may be slower (held).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import UserError

EMG_UNITS = {"uV": 1.0, "mV": 1e3, "V": 1e6}
ACC_UNITS = {"g": 1.0, "mps2": 1.0 / 9.80665}
GYRO_UNITS = {"dps": 1.0, "rads": 180.0 / math.pi}
TIME_UNITS = {"s": 1.0, "ms": 1e-3}
IMU_NAMES = ("ax", "ay", "az", "gx", "gy", "gz")
_COL = re.compile(r"^(t|emg\d*|ax|ay|az|gx|gy|gz)_([A-Za-z0-9]+)$")


class RecordingError(UserError):
    """A recording that cannot be read as given; the message names the line or sample."""


@dataclass
class Chunk:
    """``start``: index of the first sample; ``emg_uv``: (n_channels, n) float64 uV;
    ``imu``: (6, n) float64, g (rows 0-2) and dps (rows 3-5), at the EMG rate."""
    start: int
    emg_uv: np.ndarray
    imu: np.ndarray


@dataclass
class RecordingInfo:
    path: Path
    fs_hz: float
    channels: list[str]
    has_imu: bool
    n_samples: int | None = None      # when the format says (EDF)
    notes: list[str] = field(default_factory=list)


class Recording:
    """An opened recording: ``info`` and ``chunks()`` (an iterator, one pass)."""

    def __init__(self, info: RecordingInfo, chunks: Iterator[Chunk]):
        self.info = info
        self._chunks = chunks

    def chunks(self) -> Iterator[Chunk]:
        return self._chunks


def open_recording(path: str | Path, *, chunk_s: float = 60.0, emg_labels: Sequence[str] | None = None,
                   acc_labels: Sequence[str] | None = None, gyro_labels: Sequence[str] | None = None) -> Recording:
    """Open a CSV or EDF+/BDF+ recording for streaming (format from the suffix)."""
    p = Path(path)
    if not p.exists():
        raise RecordingError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix in (".edf", ".bdf"):
        return _open_edf(p, chunk_s, emg_labels, acc_labels, gyro_labels)
    if suffix in (".csv", ".txt") or suffix == "":
        if emg_labels or acc_labels or gyro_labels:
            raise RecordingError(f"{p}: channel labels apply to EDF/BDF files only; a CSV names its columns")
        return _open_csv(p, chunk_s)
    raise RecordingError(f"{p}: unknown recording format {suffix!r} (use .csv, .edf or .bdf)")


# ---------------------------------------------------------------------------------- CSV
@dataclass
class _CsvLayout:
    names: list[str]
    t_col: int
    t_scale: float
    emg_cols: list[int]
    emg_scale: list[float]
    imu_cols: list[int]
    imu_scale: list[float]


def _parse_header(p: Path, line: str) -> _CsvLayout:
    names = [c.strip() for c in line.rstrip("\r\n").split(",")]
    t_col, t_scale = -1, 1.0
    emg: dict[int, tuple[int, float]] = {}
    imu: dict[str, tuple[int, float]] = {}
    for i, name in enumerate(names):
        m = _COL.match(name)
        if not m:
            raise RecordingError(f"{p}: line 1: unknown column {name!r} (column {i + 1}); expected t_s, "
                                 "emg_uV, emg2_uV..., ax_g, ay_g, az_g, gx_dps, gy_dps, gz_dps")
        base, unit = m.group(1), m.group(2)
        if base == "t":
            if unit not in TIME_UNITS:
                raise RecordingError(f"{p}: line 1: unknown time unit {unit!r} in column {name!r}; known: s, ms")
            if t_col >= 0:
                raise RecordingError(f"{p}: line 1: time column given twice ({name!r})")
            t_col, t_scale = i, TIME_UNITS[unit]
        elif base.startswith("emg"):
            if unit not in EMG_UNITS:
                raise RecordingError(f"{p}: line 1: unknown EMG unit {unit!r} in column {name!r}; known: "
                                     + ", ".join(EMG_UNITS))
            k = int(base[3:] or 1)
            if k in emg:
                raise RecordingError(f"{p}: line 1: EMG channel {k} given twice ({name!r})")
            emg[k] = (i, EMG_UNITS[unit])
        else:
            units = ACC_UNITS if base[0] == "a" else GYRO_UNITS
            if unit not in units:
                raise RecordingError(f"{p}: line 1: unknown unit {unit!r} in column {name!r}; known: "
                                     + ", ".join(units))
            if base in imu:
                raise RecordingError(f"{p}: line 1: column {base} given twice")
            imu[base] = (i, units[unit])
    if t_col < 0:
        raise RecordingError(f"{p}: line 1: missing time column t_s")
    if 1 not in emg:
        raise RecordingError(f"{p}: line 1: missing EMG column emg_uV")
    ks = sorted(emg)
    if ks != list(range(1, len(ks) + 1)):
        raise RecordingError(f"{p}: line 1: EMG channels must be emg_uV, emg2_uV, ... without gaps; got "
                             + ", ".join(names[emg[k][0]] for k in ks))
    if imu and len(imu) != 6:
        missing = [n for n in IMU_NAMES if n not in imu]
        raise RecordingError(f"{p}: line 1: missing IMU columns {', '.join(missing)} "
                             "(give all six IMU columns or none)")
    return _CsvLayout(names, t_col, t_scale, [emg[k][0] for k in ks], [emg[k][1] for k in ks],
                      [imu[n][0] for n in IMU_NAMES] if imu else [],
                      [imu[n][1] for n in IMU_NAMES] if imu else [])


def _check_text(p: Path) -> None:
    """Refuse compressed, binary and non-UTF-8 files before any parsing, naming the fix."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(65536)
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read ({exc.strerror})") from None
    if head[:2] == b"\x1f\x8b":
        raise RecordingError(f"{p}: is gzip-compressed; decompress it first (gunzip -k {p.name})")
    if head[:4] == b"PK\x03\x04":
        raise RecordingError(f"{p}: is a ZIP archive; extract the CSV first")
    if b"\x00" in head:
        raise RecordingError(f"{p}: is a binary file, not CSV text (EDF/BDF files need the .edf/.bdf suffix)")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) < 65536 or exc.start < len(head) - 4:   # not a character cut by the block end
            line = head[:exc.start].count(b"\n") + 1
            raise RecordingError(f"{p}: line {line}: not UTF-8 text (byte 0x{head[exc.start]:02x}, "
                                 "Latin-1?); re-save it as UTF-8") from None


def _open_csv(p: Path, chunk_s: float) -> Recording:
    import pandas as pd

    _check_text(p)
    with open(p, "r", newline="", encoding="utf-8-sig") as fh:
        header = fh.readline()
        first = fh.readline()
        second = fh.readline()
    if not header.strip():
        raise RecordingError(f"{p}: line 1: empty file or missing header")
    lay = _parse_header(p, header)
    ncol = len(lay.names)
    if not first.strip() or not second.strip():
        raise RecordingError(f"{p}: line {2 if not first.strip() else 3}: fewer than two samples")
    try:
        t0 = float(first.split(",")[lay.t_col]) * lay.t_scale
        t1 = float(second.split(",")[lay.t_col]) * lay.t_scale
    except (ValueError, IndexError):
        bad = 2
        try:
            float(first.split(",")[lay.t_col])
            bad = 3
        except (ValueError, IndexError):
            pass
        raise RecordingError(f"{p}: line {bad}: time column {lay.names[lay.t_col]!r} is not a number") from None
    dt = t1 - t0
    if not dt > 0:
        raise RecordingError(f"{p}: line 3: time {t1:g} s is not after the previous sample ({t0:g} s)")
    # the rate from up to 2000 intervals (times printed with few decimals are rounded)
    with open(p, "r", newline="", encoding="utf-8-sig") as fh:
        fh.readline()
        ts = []
        for _ in range(2001):
            line = fh.readline()
            if not line.strip():
                break
            try:
                ts.append(float(line.split(",")[lay.t_col]) * lay.t_scale)
            except (ValueError, IndexError):
                break
    if len(ts) > 2:
        # median of lag-L differences: robust to a dropped sample and to rounded time stamps
        tv = np.asarray(ts)
        lag = max(1, min(100, (len(tv) - 1) // 4))
        d = (tv[lag:] - tv[:-lag]) / lag
        if np.median(d) > 0:
            dt = float(np.median(d))
    fs = 1.0 / dt
    fs_r = round(fs)
    if fs_r <= 0 or abs(fs - fs_r) > 0.01 * fs_r:
        raise RecordingError(f"{p}: line 3: sampling interval {dt:g} s is not a whole rate in Hz")
    info = RecordingInfo(p, float(fs_r), [lay.names[c] for c in lay.emg_cols], bool(lay.imu_cols))
    if not lay.imu_cols:
        info.notes.append("no IMU columns: motion artifacts are judged from the EMG alone")
    rows = max(1, int(round(chunk_s * fs_r)))

    def gen() -> Iterator[Chunk]:
        period = 1.0 / fs_r
        start = 0
        last_t = -math.inf
        try:
            reader = pd.read_csv(p, chunksize=rows, dtype=np.float64, skip_blank_lines=False, encoding="utf-8-sig",
                                 engine="c", header=0, names=None, na_filter=True)
            for df in _safe_chunks(reader, p, start_line=2, rows=rows):
                a = df.to_numpy(dtype=np.float64, copy=False)
                n = a.shape[0]
                if a.shape[1] != ncol:
                    raise RecordingError(f"{p}: line {start + 2}: {a.shape[1]} columns, header has {ncol}")
                bad = ~np.isfinite(a)
                if bad.any():
                    r, c = np.argwhere(bad)[0]
                    line = start + r + 2
                    if np.isnan(a[r]).all():
                        raise RecordingError(f"{p}: line {line}: empty line")
                    raise RecordingError(f"{p}: line {line}: column {lay.names[c]!r} is missing or not a "
                                         f"finite number (NaN/inf, or a truncated line)")
                t = a[:, lay.t_col] * lay.t_scale
                expect = t0 + (start + np.arange(n)) * period
                prev = np.concatenate(([last_t], t[:-1]))
                nonmono = np.flatnonzero(t <= prev)
                if nonmono.size:
                    r = int(nonmono[0])
                    raise RecordingError(f"{p}: line {start + r + 2}: time {t[r]:.6g} s is not after the "
                                         f"previous sample ({prev[r]:.6g} s)")
                last_t = t[-1]
                off = np.abs(t - expect)
                irr = np.flatnonzero(off > 0.25 * period)
                if irr.size:
                    r = int(irr[0])
                    raise RecordingError(f"{p}: line {start + r + 2}: irregular time {t[r]:.6f} s, expected "
                                         f"{expect[r]:.6f} s at {fs_r:g} Hz (missing or duplicated samples?)")
                emg = a[:, lay.emg_cols].T * np.asarray(lay.emg_scale)[:, None]
                if lay.imu_cols:
                    imu = a[:, lay.imu_cols].T * np.asarray(lay.imu_scale)[:, None]
                else:
                    imu = np.zeros((6, n))
                yield Chunk(start, emg, imu)
                start += n
        except RecordingError:
            raise
        except UnicodeDecodeError as exc:
            raise RecordingError(f"{p}: not a text CSV file ({exc.reason} at byte {exc.start})") from None

    return Recording(info, gen())


def _safe_chunks(reader, p: Path, start_line: int, rows: int):
    """Iterate pandas chunks, turning parser errors into RecordingError with the line."""
    import pandas as pd

    line = start_line
    it = iter(reader)
    while True:
        try:
            df = next(it)
        except StopIteration:
            return
        except pd.errors.ParserError as exc:
            msg = str(exc)
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
            if m:
                raise RecordingError(f"{p}: line {m.group(2)}: {m.group(3)} fields, header has {m.group(1)}") from None
            raise RecordingError(f"{p}: near line {line}: {msg}") from None
        except ValueError as exc:
            # a non-numeric cell: find it by re-reading this chunk as text
            raise _locate_bad_cell(p, line, rows, exc) from None
        line += len(df)
        yield df


def _locate_bad_cell(p: Path, line: int, rows: int, exc: Exception) -> RecordingError:
    with open(p, "r", newline="", encoding="utf-8-sig") as fh:
        names = fh.readline().rstrip("\r\n").split(",")
        for ln, text in enumerate(fh, start=2):
            if ln < line:
                continue
            if ln >= line + rows:
                break
            cells = text.rstrip("\r\n").split(",")
            for c, cell in enumerate(cells):
                try:
                    float(cell)
                except ValueError:
                    col = names[c] if c < len(names) else f"#{c + 1}"
                    return RecordingError(f"{p}: line {ln}: column {col!r} is not a number: {cell.strip()!r}")
    return RecordingError(f"{p}: near line {line}: {exc}")


# ---------------------------------------------------------------------------------- EDF
_EDF_EMG = {"uv": 1.0, "µv": 1.0, "mv": 1e3, "v": 1e6}
_EDF_ACC = {"g": 1.0, "m/s^2": 1 / 9.80665, "m/s2": 1 / 9.80665, "mg": 1e-3}
_EDF_GYRO = {"deg/s": 1.0, "dps": 1.0, "°/s": 1.0, "rad/s": 180.0 / math.pi}


def _open_edf(p: Path, chunk_s: float, emg_labels, acc_labels, gyro_labels) -> Recording:
    import pyedflib

    try:
        f = pyedflib.EdfReader(str(p))
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read as EDF+/BDF+: {exc}") from None
    labels = [s.strip() for s in f.getSignalLabels()]

    def find(lab: str, what: str) -> int:
        for i, name in enumerate(labels):
            if name == lab.strip():
                return i
        f.close()
        raise RecordingError(f"{p}: no signal labelled {lab!r} for {what}; signals: {', '.join(labels)}")

    if emg_labels:
        emg_idx = [find(lab, "EMG") for lab in emg_labels]
    else:
        emg_idx = [i for i, n in enumerate(labels) if "emg" in n.lower()]
        if not emg_idx:
            f.close()
            raise RecordingError(f"{p}: no signal label contains 'EMG'; name them with --emg-label "
                                 f"(signals: {', '.join(labels)})")
    imu_idx: list[int] = []
    for labs, what in ((acc_labels, "accelerometer"), (gyro_labels, "gyroscope")):
        if labs:
            if len(labs) != 3:
                f.close()
                raise RecordingError(f"{p}: {what} needs three labels (x,y,z), got {len(labs)}")
            imu_idx += [find(lab, what) for lab in labs]
    if imu_idx and len(imu_idx) != 6:
        f.close()
        raise RecordingError(f"{p}: give both --acc-labels and --gyro-labels, or neither")
    fs_list = [f.getSampleFrequency(i) for i in emg_idx]
    if len(set(fs_list)) != 1:
        f.close()
        raise RecordingError(f"{p}: EMG signals have different rates {fs_list}")
    fs = float(fs_list[0])
    n_total = int(f.getNSamples()[emg_idx[0]])
    emg_scale = []
    for i in emg_idx:
        u = f.getPhysicalDimension(i).strip().lower().replace("micro", "u")
        if u not in _EDF_EMG:
            f.close()
            raise RecordingError(f"{p}: signal {labels[i]!r}: unknown EMG unit {u!r} (known: uV, mV, V)")
        emg_scale.append(_EDF_EMG[u])
    imu_scale = []
    for j, i in enumerate(imu_idx):
        u = f.getPhysicalDimension(i).strip().lower()
        table = _EDF_ACC if j < 3 else _EDF_GYRO
        if u not in table:
            f.close()
            raise RecordingError(f"{p}: signal {labels[i]!r}: unknown unit {u!r} (known: {', '.join(table)})")
        imu_scale.append(table[u])
    info = RecordingInfo(p, fs, [labels[i] for i in emg_idx], bool(imu_idx), n_total)
    if not imu_idx:
        info.notes.append("no IMU signals mapped: motion artifacts are judged from the EMG alone")
    rows = max(1, int(round(chunk_s * fs)))

    def gen() -> Iterator[Chunk]:
        try:
            start = 0
            while start < n_total:
                n = min(rows, n_total - start)
                emg = np.empty((len(emg_idx), n))
                for k, i in enumerate(emg_idx):
                    emg[k] = f.readSignal(i, start, n) * emg_scale[k]
                imu = np.zeros((6, n))
                for k, i in enumerate(imu_idx):
                    ratio = f.getSampleFrequency(i) / fs
                    a0 = int(math.floor(start * ratio))
                    a1 = int(math.floor((start + n - 1) * ratio)) + 1
                    v = f.readSignal(i, a0, a1 - a0) * imu_scale[k]
                    idx = np.floor((start + np.arange(n)) * ratio).astype(np.int64) - a0
                    imu[k] = v[np.clip(idx, 0, len(v) - 1)]
                bad = ~np.isfinite(emg)
                if bad.any():
                    c, r = np.argwhere(bad)[0]
                    raise RecordingError(f"{p}: signal {info.channels[c]!r} sample {start + r}: not finite")
                yield Chunk(start, emg, imu)
                start += n
        finally:
            f.close()

    return Recording(info, gen())
