"""The local stack on real servers: Redis (valkey), MongoDB (FerretDB/mongod), Upstash proxy.

Python API (tests, benchmarks):

    from devstack import StackPorts, start_stack

    with start_stack(tmp_dir) as stack:
        stack.redis_url, stack.mongodb_uri, stack.upstash_url, stack.upstash_token
        stack.env()                              # the same, as environment variables
        stack.mongodb.stop(); stack.mongodb.start()   # outage drill: same port, same data

Shell: `python -m devstack run|up|down|status|env|provision` (see devstack/cli.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.ferretdb import ProvisionError
    from devstack.process import ManagedProcess, ServiceError, free_port
    from devstack.stack import Stack, StackPorts, start_stack

# Imported on first use, so `python -m devstack.upstash_proxy` does not pay for pymongo.
_EXPORTS = {
    "ManagedProcess": "devstack.process",
    "ProvisionError": "devstack.ferretdb",
    "ServiceError": "devstack.process",
    "Stack": "devstack.stack",
    "StackPorts": "devstack.stack",
    "free_port": "devstack.process",
    "start_stack": "devstack.stack",
}
__all__ = [
    "ManagedProcess",
    "ProvisionError",
    "ServiceError",
    "Stack",
    "StackPorts",
    "free_port",
    "start_stack",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'devstack' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
