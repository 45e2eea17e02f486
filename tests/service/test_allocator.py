"""The matcher's malloc settings: memory it frees is reused without new page faults."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import resource, sys
from matcher.service.allocator import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
block = b"x" * (16 * 1024 * 1024)  # touched: every page faulted in once
del block
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
block = b"y" * (16 * 1024 * 1024)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults_of_a_second_allocation(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],  # the project root, for `import matcher`
    )
    return int(done.stdout)


def test_a_freed_block_is_reused_without_faulting_it_in_again() -> None:
    # 16 MB is 4,096 pages: by default glibc gives the block back to the kernel on free
    # and faults every page in again; the matcher's settings keep it.
    assert faults_of_a_second_allocation("default") > 2_000
    assert faults_of_a_second_allocation("keep") < 200
