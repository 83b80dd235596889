"""Test helpers: power on the virtual board with chosen parts and sources (sim layer)."""
from array import array

import machine
import simhw

SIM_BOARD = {
    "name": "test", "mcu": "unix",
    "emg": {"part": "ads1292r", "channels": 2, "fs_hz": 1000, "gain": 6, "vref_v": 2.42,
            "adc_bits": 24},
    "imu": {"part": "mpu6050", "fs_hz": 100, "accel_range_g": 8, "gyro_range_dps": 1000,
            "address": 0x68},
    "pins": {"spi_sck": 18, "spi_mosi": 23, "spi_miso": 19, "emg_cs": 5, "emg_drdy": 4,
             "i2c_scl": 22, "i2c_sda": 21},
    "buses": {"spi": {"id": 1}, "i2c": {"id": 0}},
}


def board(emg_part="ads1292r", imu_part="mpu6050", imu_addr=None):
    b = {}
    for k, v in SIM_BOARD.items():
        b[k] = dict(v) if isinstance(v, dict) else v
    b["emg"]["part"] = emg_part
    if emg_part == "myoware2":
        b["emg"].update(channels=1, gain=200, vref_v=3.1, adc_bits=12, adc_signed=False)
        b["pins"]["emg_adc"] = 1
    b["imu"]["part"] = imu_part
    b["imu"]["address"] = imu_addr or (0x6A if imu_part == "lsm6dso" else 0x68)
    return b


def power_on(emg_source=None, imu_source=None, **kw):
    simhw.setup(board(**kw), emg_source, imu_source)
    return simhw.board


def ads_bus(b):
    spi = machine.SPI(b["buses"]["spi"]["id"], baudrate=2000000, polarity=0, phase=1)
    cs = machine.Pin(b["pins"]["emg_cs"], machine.Pin.OUT, value=1)
    drdy = machine.Pin(b["pins"]["emg_drdy"], machine.Pin.IN)
    return spi, cs, drdy


def i32(n):
    return array("i", bytes(4 * n))


def imu_arrays(n):
    return [i32(n) for _ in range(6)]
