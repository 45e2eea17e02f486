"""Guard against running a stale compiled core.

Python prefers an extension module over the source beside it, so after an edit the
old compiled code would run silently; refusing to import is the safer failure.
"""

from pathlib import Path

HERE = Path(__file__).parent


def compiled_modules() -> dict[str, Path]:
    """Source name -> its compiled extension, for the modules that have one."""
    out: dict[str, Path] = {}
    for ext in HERE.glob("*.so"):
        source = HERE / (ext.name.split(".", 1)[0] + ".py")
        if source.exists():
            out[source.name] = ext
    return out


def check_compiled_fresh() -> None:
    stale = [
        name
        for name, ext in compiled_modules().items()
        if (HERE / name).stat().st_mtime > ext.stat().st_mtime
    ]
    if stale:
        raise ImportError(
            f"matcher.core: compiled modules are older than {', '.join(sorted(stale))};"
            " run `make core` to rebuild them (or delete matcher/core/*.so)"
        )
