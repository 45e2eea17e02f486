"""The machine's calibration figure (`../shared/calibrate.py`), printed beside every
benchmark's own so that figures from different machines can be compared: targets are
multiples of it, measured in the same run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CALIBRATE = Path(__file__).resolve().parents[2] / "shared" / "calibrate.py"


def calibration_msgs_per_s() -> int:
    """Runs the calibration (about 10 s, on an otherwise idle machine)."""
    if not CALIBRATE.is_file():
        raise SystemExit(
            f"{CALIBRATE} is missing: the benchmarks need ../shared/ beside the project"
        )
    out = subprocess.run(
        [sys.executable, str(CALIBRATE)], capture_output=True, text=True, check=True
    ).stdout
    figure: int = json.loads(out.strip().splitlines()[-1])["calibration_msgs_per_s"]
    return figure
