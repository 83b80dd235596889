"""Board hardware from the board definition (board.json written by ``make deploy``).

The one device module that creates ``machine`` objects: buses, pins, the EMG and IMU
drivers, the button, the watchdog and the log storage. Everything else receives them.
Pin and part names follow boards/<name>/board.json (checked on the host by
spasmtrack.boards before anything is flashed; re-checked here with precise errors).
"""
import machine
from micropython import const

from drivers import SensorError

# Each part's driver is imported where the board selects it: a board carries one EMG front
# end and one IMU, and importing the other drivers would cost heap the device does not have.
# esp32 and flash_storage are imported in open_storage because only one exists per port.

_ADS_POLARITY = const(0)  # ADS1292R: SPI mode 1 (CPOL 0, CPHA 1)
_ADS_PHASE = const(1)


class BoardError(Exception):
    """board.json does not describe usable hardware (names what is missing)."""


def _pin(pins, name, board):
    if name not in pins:
        raise BoardError("board %r: pin %r missing from board.json" % (board, name))
    return pins[name]


class Hardware:
    def __init__(self, board):
        """``board``: the board.json dict. Creates buses and drivers and configures the
        parts (raises SensorError/BoardError with the part, pin or address at fault)."""
        self.board = board
        name = board.get("name", "?")
        pins = board.get("pins", {})
        buses = board.get("buses", {})
        emg = board["emg"]
        self.emg_fs = emg["fs_hz"]
        self.emg_channels = emg.get("channels", 1)
        self._drdy = None
        self._timer = None
        part = emg["part"]
        if part == "ads1292r":
            from drivers.ads1292r import ADS1292R

            spi_cfg = buses.get("spi", {})
            sid = spi_cfg.get("id", 1)
            spi = machine.SPI(sid, baudrate=spi_cfg.get("baudrate", 1000000),
                              polarity=_ADS_POLARITY, phase=_ADS_PHASE,
                              sck=machine.Pin(_pin(pins, "spi_sck", name)),
                              mosi=machine.Pin(_pin(pins, "spi_mosi", name)),
                              miso=machine.Pin(_pin(pins, "spi_miso", name)))
            cs_n = _pin(pins, "emg_cs", name)
            cs = machine.Pin(cs_n, machine.Pin.OUT, value=1)
            self._drdy = machine.Pin(_pin(pins, "emg_drdy", name), machine.Pin.IN,
                                     machine.Pin.PULL_UP)
            start = None
            if "emg_start" in pins:
                start = machine.Pin(pins["emg_start"], machine.Pin.OUT, value=0)
            self.emg = ADS1292R(spi, cs, self._drdy, start, where="SPI%d CS=GPIO%d" % (sid, cs_n))
            self.emg.init(rate_hz=self.emg_fs, gain=emg["gain"], channels=self.emg_channels,
                          lead_off=emg.get("lead_off", True), rld=emg.get("rld", True),
                          test_signal=emg.get("test_signal", False))
        elif part == "myoware2":
            from drivers.analog_emg import AnalogEMG

            pn = _pin(pins, "emg_adc", name)
            adc = machine.ADC(machine.Pin(pn), atten=machine.ADC.ATTN_11DB)
            self.emg = AnalogEMG(adc, bits=emg["adc_bits"],
                                 span_v=emg.get("adc_span_v", 2 * emg["vref_v"]),
                                 gain=emg["gain"], where="ADC GPIO%d" % pn).init()
            self._timer = machine.Timer(0)
        else:
            raise BoardError("board %r: no driver for EMG part %r" % (name, part))
        self.imu = None
        self.imu_fs = 0
        self.imu_odr = 0
        imu = board.get("imu")
        if imu is not None:
            i2c_cfg = buses.get("i2c", {})
            iid = i2c_cfg.get("id", 0)
            i2c = machine.I2C(iid, scl=machine.Pin(_pin(pins, "i2c_scl", name)),
                              sda=machine.Pin(_pin(pins, "i2c_sda", name)),
                              freq=i2c_cfg.get("freq", 400000))
            self.imu_fs = imu["fs_hz"]
            self.imu_odr = imu.get("odr_hz", self.imu_fs)
            if imu["part"] == "mpu6050":
                from drivers.mpu6050 import MPU6050

                addr = imu.get("address", 0x68)
                self.imu = MPU6050(i2c, addr, where="I2C%d 0x%02X" % (iid, addr))
                self.imu.init(rate_hz=self.imu_odr, accel_range_g=imu["accel_range_g"],
                              gyro_range_dps=imu["gyro_range_dps"])
            elif imu["part"] == "lsm6dso":
                from drivers.lsm6dso import LSM6DSO

                addr = imu.get("address", 0x6A)
                self.imu = LSM6DSO(i2c, addr, where="I2C%d 0x%02X" % (iid, addr))
                self.imu.init(rate_hz=self.imu_odr, accel_range_g=imu["accel_range_g"],
                              gyro_range_dps=imu["gyro_range_dps"])
            else:
                raise BoardError("board %r: no driver for IMU part %r" % (name, imu["part"]))
        self.button = None
        if "button" in pins:
            self.button = machine.Pin(pins["button"], machine.Pin.IN, machine.Pin.PULL_UP)

    def start_emg(self, sampler):
        """Start conversions into ``sampler`` (sampler.EmgSampler). DRDY parts: a hard pin
        IRQ that counts conversions and schedules the SPI read (SPI cannot run in ISR
        context on the ESP32); ADC parts: a periodic timer at the EMG rate.
        A plain callable instead of a sampler is called once per sample (soft pin IRQ)."""
        if self.imu is not None:
            self.imu.start()
        per_sample = getattr(sampler, "irq", sampler)
        if self._drdy is not None:
            edge = getattr(sampler, "drdy_irq", None)
            if edge is not None:
                self._drdy.irq(edge, trigger=machine.Pin.IRQ_FALLING, hard=True)
            else:
                self._drdy.irq(per_sample, trigger=machine.Pin.IRQ_FALLING, hard=False)
            self.emg.start()
        else:
            self._timer.init(mode=machine.Timer.PERIODIC, freq=self.emg_fs, callback=per_sample)

    def stop_emg(self):
        if self._drdy is not None:
            self.emg.stop()
            self._drdy.irq(None)
        elif self._timer is not None:
            self._timer.deinit()


def open_storage(board):
    """The log's block device: the ESP32 flash partition labelled ``spasmlog`` when the
    partition table has one, else a 1 MB file on the filesystem (sim: the flash folder)."""
    blocks = board.get("log_blocks", 256)
    try:
        import esp32

        parts = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="spasmlog")
        if parts:
            return parts[0]
    except ImportError:
        pass
    import flash_storage

    return flash_storage.FileFlash("spasmlog.bin", 4096, blocks)


__all__ = ("Hardware", "BoardError", "SensorError", "open_storage")
