"""Bad recordings get one precise error naming the line (CSV) or signal/sample (EDF)."""
from __future__ import annotations

from pathlib import Path

import pytest

from spasmtrack.cli import main
from spasmtrack.errors import UserError
from spasmtrack.recording import RecordingError, open_recording
from spasmtrack.replay import replay_file

HEADER = "t_s,emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps"


def csv(tmp_path: Path, lines: list[str], header: str = HEADER, name: str = "r.csv") -> Path:
    p = tmp_path / name
    p.write_text("\n".join([header] + lines) + "\n")
    return p


def rows(n: int, start: int = 0) -> list[str]:
    return [f"{(start + i) / 1000:.3f},{(i % 7) - 3}.0,0,0,1,0,0,0" for i in range(n)]


def error_of(path: Path) -> str:
    with pytest.raises(RecordingError) as exc:
        rec = open_recording(path)
        for _ in rec.chunks():
            pass
    return str(exc.value)


@pytest.mark.parametrize("header, expect", [
    ("t_s,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps", "line 1: missing EMG column emg_uV"),
    ("emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps,x_s", "unknown column 'x_s' (column 8)"),
    ("t_s,emg_uV,ax_g,ay_g,gx_dps,gy_dps,gz_dps", "missing IMU columns az"),
    ("t_s,emg_uA,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps", "unknown EMG unit 'uA' in column 'emg_uA'"),
    ("t_min,emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps", "unknown time unit 'min'"),
    ("t_s,emg_uV,ax_furlong,ay_g,az_g,gx_dps,gy_dps,gz_dps", "unknown unit 'furlong' in column 'ax_furlong'"),
    ("t_s,emg_uV,emg3_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps", "without gaps"),
])
def test_bad_header(tmp_path: Path, header: str, expect: str) -> None:
    assert expect in error_of(csv(tmp_path, rows(20), header=header))


def test_missing_time_column(tmp_path: Path) -> None:
    assert "missing time column t_s" in error_of(csv(tmp_path, rows(5), header="emg_uV,ax_g,ay_g,az_g,gx_dps,gy_dps,gz_dps"))


def test_non_monotonic_time(tmp_path: Path) -> None:
    r = rows(50)
    r[30] = "0.028,1.0,0,0,1,0,0,0"
    msg = error_of(csv(tmp_path, r))
    assert "line 32: time 0.028 s is not after the previous sample (0.029 s)" in msg


def test_irregular_time(tmp_path: Path) -> None:
    r = rows(50)
    del r[20]                     # a dropped sample
    msg = error_of(csv(tmp_path, r))
    assert "line 22: irregular time 0.021000 s, expected 0.020000 s at 1000 Hz" in msg


def test_nan_value(tmp_path: Path) -> None:
    r = rows(50)
    r[10] = "0.010,nan,0,0,1,0,0,0"
    assert "line 12: column 'emg_uV' is missing or not a finite number" in error_of(csv(tmp_path, r))


def test_not_a_number(tmp_path: Path) -> None:
    r = rows(50)
    r[40] = "0.040,12.5,0,zero,1,0,0,0"
    assert "line 42: column 'ay_g' is not a number: 'zero'" in error_of(csv(tmp_path, r))


def test_truncated_last_line(tmp_path: Path) -> None:
    r = rows(50)
    r[-1] = "0.049,1.5,0,0"
    assert "line 51: column 'az_g' is missing or not a finite number (NaN/inf, or a truncated line)" \
        in error_of(csv(tmp_path, r))


def test_too_many_fields(tmp_path: Path) -> None:
    r = rows(50)
    r[25] = r[25] + ",7"
    assert "line 27: 9 fields, header has 8" in error_of(csv(tmp_path, r))


def test_empty_line_inside(tmp_path: Path) -> None:
    r = rows(50)
    r[5] = ""
    assert "line 7: empty line" in error_of(csv(tmp_path, r))


def test_empty_and_tiny_files(tmp_path: Path) -> None:
    p = tmp_path / "empty.csv"
    p.write_text("")
    assert "empty file or missing header" in error_of(p)
    assert "fewer than two samples" in error_of(csv(tmp_path, rows(1), name="one.csv"))


def test_wrong_rate_for_board(tmp_path: Path) -> None:
    r = [f"{i / 500:.3f},1.0,0,0,1,0,0,0" for i in range(100)]
    with pytest.raises(UserError, match="recorded at 500 Hz, board 'sim' samples EMG at 1000 Hz; .*slower ones cannot be"):
        replay_file(csv(tmp_path, r))


def test_unknown_board_and_format(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="unknown board 'nope'"):
        replay_file(csv(tmp_path, rows(100)), board="nope")
    p = tmp_path / "r.wav"
    p.write_bytes(b"RIFF")
    with pytest.raises(UserError, match="unknown recording format '.wav'"):
        open_recording(p)
    with pytest.raises(UserError, match="no such file"):
        open_recording(tmp_path / "missing.csv")


def test_cli_reports_error_with_exit_code_2(tmp_path: Path, capsys) -> None:
    r = rows(50)
    r[10] = "0.010,nan,0,0,1,0,0,0"
    assert main(["replay", str(csv(tmp_path, r))]) == 2
    err = capsys.readouterr().err
    assert "spasmtrack replay: error:" in err and "line 12" in err


def test_edf_unknown_label_and_unit(tmp_path: Path) -> None:
    pyedflib = pytest.importorskip("pyedflib")
    import numpy as np

    path = tmp_path / "r.edf"
    w = pyedflib.EdfWriter(str(path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([{"label": "EMG1", "dimension": "uA", "sample_frequency": 1000, "physical_max": 100,
                         "physical_min": -100, "digital_max": 32767, "digital_min": -32768}])
    w.writeSamples([np.zeros(1000)])
    w.close()
    with pytest.raises(RecordingError, match="signal 'EMG1': unknown EMG unit 'ua'"):
        open_recording(path)
    with pytest.raises(RecordingError, match="no signal labelled 'EMG9' for EMG; signals: EMG1"):
        open_recording(path, emg_labels=["EMG9"])


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "win.csv"
    p.write_bytes(("\ufeff" + "\r\n".join([HEADER] + rows(30)) + "\r\n").encode("utf-8"))
    rec = open_recording(p)
    chunks = list(rec.chunks())
    assert sum(c.emg_uv.shape[1] for c in chunks) == 30 and rec.info.fs_hz == 1000.0
