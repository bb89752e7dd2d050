"""The project's task modules, importable as ``idflow.tasks.<folder>.<file>`` (the seed's own form).

A project keeps its workers in ``idflow/tasks/``, so ``python -c "from idflow.tasks.greet.greet import
greet"`` run in the project folder finds the project's ``idflow/`` folder, a namespace portion, and this
library. A regular package found anywhere on ``sys.path`` beats a namespace portion, so the library owns
``idflow.tasks`` and points its ``__path__`` at the project's tasks folders:

- those named by ``$IDFLOW_TASKS_DIR`` (``os.pathsep``-separated): ``idflow worker start`` sets it for the
  configured ``tasks_dir``, so the worker processes it spawns import the same modules by the same names;
- else ``<entry>/idflow/tasks`` for every ``sys.path`` entry (``""`` is the current folder), which is
  what the namespace package would have found.

Nothing is imported here; importing this package runs no task code.
"""

from __future__ import annotations

import os
import sys

ENV = "IDFLOW_TASKS_DIR"
_OWN = os.path.dirname(os.path.abspath(__file__))


def project_task_dirs() -> list[str]:
    """The folders ``idflow.tasks`` reads modules from, in order."""
    named = os.environ.get(ENV)
    if named:
        return list(dict.fromkeys(os.path.abspath(p) for p in named.split(os.pathsep) if p))
    found: list[str] = []
    for entry in sys.path:
        candidate = os.path.abspath(os.path.join(entry or os.getcwd(), "idflow", "tasks"))
        if candidate != _OWN and os.path.isdir(candidate):
            found.append(candidate)
    return list(dict.fromkeys(found))


def mount(tasks_dir: str | os.PathLike[str]) -> None:
    """Read task modules from ``tasks_dir`` from now on, here and in processes started from here.

    Modules already imported from another folder are forgotten, so the next import reads the new one.
    """
    folder = os.path.realpath(tasks_dir)
    os.environ[ENV] = folder
    if __path__ == [folder]:
        return
    for loaded in [m for m in sys.modules if m.startswith(__name__ + ".")]:
        del sys.modules[loaded]
    __path__[:] = [folder]
    import importlib

    importlib.invalidate_caches()


__path__ = project_task_dirs()
