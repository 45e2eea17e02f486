"""Tests of the pure matching core (`matcher/core`), one module per feature."""
