"""Files the local stack writes that hold secrets (API keys, tokens)."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> Path:
    """Write `text` to `path` readable by the owner only (0600 from the first byte, never
    world-readable in between), atomically: a reader sees the old file or the new one."""
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    partial.replace(path)
    return path
