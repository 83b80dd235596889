"""Clinician report: self-contained HTML (inline SVG plots), optional PDF via headless Chromium."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from ..errors import UserError

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--disable-dev-shm-usage"]


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    raise UserError("no Chromium found for --pdf (Debian: apt-get install chromium; `make setup` does it)")


def write_private(path: Path, data: bytes) -> None:
    """Write a health-data file readable by its owner only (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, 0o600)


def html_to_pdf(html_path: Path, pdf_path: Path, timeout_s: float = 120) -> None:
    """Print the HTML report to PDF with headless Chromium (no network)."""
    exe = find_chromium()
    with tempfile.TemporaryDirectory(prefix="spasmtrack-chromium-") as prof:
        tmp_pdf = Path(prof) / "out.pdf"
        cmd = [exe, *CHROMIUM_FLAGS, f"--user-data-dir={prof}", "--no-pdf-header-footer",
               f"--print-to-pdf={tmp_pdf}", html_path.resolve().as_uri()]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        if r.returncode != 0 or not tmp_pdf.exists():
            raise UserError(f"chromium could not print the PDF (exit {r.returncode}): {r.stderr.strip()[-400:]}")
        write_private(pdf_path, tmp_pdf.read_bytes())
