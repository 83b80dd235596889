"""spasmtrack host tool: sync, storage, dose-timing analysis and clinician reports."""
from pathlib import Path

__version__ = "0.1.0"

#: Repository root (the host package lives in ``host/spasmtrack``).
REPO_ROOT = Path(__file__).resolve().parents[2]
FIRMWARE_DIR = REPO_ROOT / "firmware"
BOARDS_DIR = REPO_ROOT / "boards"
