"""idflow: keep Conductor task and workflow definitions in git, and the server in step with them.

Importing this package is cheap: the Conductor SDK is only imported when a worker decorator runs.
"""

from idflow.decorator import worker_task

__version__ = "0.1.0"
__all__ = ["__version__", "worker_task"]
