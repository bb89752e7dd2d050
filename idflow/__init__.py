"""idflow: keep Conductor task and workflow definitions in git, and the server in step with them.

Importing this package is cheap: the Conductor SDK is only imported when a worker decorator runs.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["__version__", "worker_task"]


def __getattr__(name: str) -> Any:
    """``worker_task`` is imported on first use: the CLI (``idflow --help``) never needs the decorator."""
    if name == "worker_task":
        from idflow.decorator import worker_task

        return worker_task
    raise AttributeError(f"module 'idflow' has no attribute {name!r}")
