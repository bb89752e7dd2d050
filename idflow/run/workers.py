"""Running the workers of local tasks (``idflow worker start``) and checking their requirements.

This is the only place where task code is imported. Everything else (plan, list, apply) reads the
task files statically.

Importing task modules
    A task file ``<tasks_dir>/greet/greet.py`` is imported as ``idflow.tasks.greet.greet``, the path the
    seed's own examples use: the library's ``idflow.tasks`` package reads its modules from the configured
    tasks folder (``idflow.tasks.mount``, which also sets ``$IDFLOW_TASKS_DIR``, so spawned worker
    processes find the same modules by the same names). Code in a task folder reaches its neighbours with
    relative imports (``from . import helpers``, ``from ..common import x``).

    Worker processes are started with ``spawn``: the child re-creates every object from a pickle. A
    decorated function is wrapped in ``TaskFunction``, a small picklable reference (tasks folder, module,
    task name, function, domain) whose unpickling mounts the tasks folder in the child and imports the
    module there; ``Worker(...)`` objects and ``WorkerInterface`` instances pickle by module path.

Worker styles
    Decorated functions come from the SDK's registry (one worker per domain); ``Worker(...)`` objects are
    found among the module's globals (directly or in a list, tuple or dict); a ``WorkerInterface`` subclass
    is used through a module-level instance if there is one, else created as ``Cls()``.

Processes and threads
    By default every worker runs in its own process under the SDK's ``TaskHandler`` (which also restarts
    a worker process that dies). Children ignore SIGINT; on Ctrl-C or SIGTERM the parent calls
    ``stop_processes()``, which terminates them and waits. With ``threads=True`` each worker's SDK
    ``TaskRunner`` runs in a thread of this process instead. The SDK's own thread mode
    (``CONDUCTOR_WORKER_ISOLATION=thread``) is not used: it makes ``terminate()`` a no-op and gives no way
    to stop the runners, so a stopped handler would never exit.

Logging
    Lines come from an SDK event listener (``WorkerLog``), in the parent's format: which workers started,
    each task polled, started, completed or failed.
"""

from __future__ import annotations

import importlib
import inspect
import os
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from idflow.errors import DefinitionError, WorkerError
from idflow.log import get_logger

if TYPE_CHECKING:
    from idflow.config import Config
    from idflow.repo.task_files import LocalTask

PACKAGE = "idflow.tasks"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
THREAD_JOIN_SECONDS = 10.0

log = get_logger("idflow.run.workers")


# -- requirements ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequirementStatus:
    """One line of a task's requirements.txt, checked against the running interpreter."""

    task: str
    requirement: str
    installed: str | None  # the installed version, None when the distribution is not installed
    ok: bool
    applies: bool = True  # False when an environment marker excludes this interpreter
    source: Path | None = None

    @property
    def state(self) -> str:
        if not self.applies:
            return "not needed here (marker)"
        if self.installed is None:
            return "missing"
        return f"ok ({self.installed})" if self.ok else f"wrong version ({self.installed} installed)"

    def __str__(self) -> str:
        return f"{self.task}: {self.requirement}: {self.state}"


def requirement_status(task: str, requirement: str, source: Path | None = None) -> RequirementStatus:
    """Whether ``requirement`` (PEP 508) is met by what is installed: name present, version in range.

    Extras (``pkg[extra]``) are not checked beyond the package itself.
    """
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement
    from packaging.version import InvalidVersion, Version

    parsed = Requirement(requirement)
    if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
        return RequirementStatus(task, requirement, None, ok=True, applies=False, source=source)
    try:
        installed = version(parsed.name)
    except PackageNotFoundError:
        return RequirementStatus(task, requirement, None, ok=False, source=source)
    if not parsed.specifier:
        return RequirementStatus(task, requirement, installed, ok=True, source=source)
    try:
        ok = parsed.specifier.contains(Version(installed), prereleases=True)
    except InvalidVersion:
        ok = False
    return RequirementStatus(task, requirement, installed, ok=ok, source=source)


def check_requirements(tasks: Iterable[LocalTask]) -> list[RequirementStatus]:
    """The status of every requirement of every task, in task order."""
    return [
        requirement_status(task.name, requirement, task.requirements_path)
        for task in tasks
        for requirement in task.requirements
    ]


def unmet(statuses: Iterable[RequirementStatus]) -> list[RequirementStatus]:
    return [s for s in statuses if not s.ok]


def ensure_requirements(tasks: Sequence[LocalTask]) -> None:
    """Raise ``WorkerError`` listing every requirement that is missing or in the wrong version."""
    missing = unmet(check_requirements(tasks))
    if missing:
        raise _RequirementsMissing(missing)


class _RequirementsMissing(WorkerError):
    def __init__(self, missing: list[RequirementStatus]):
        tasks = sorted({s.task for s in missing})
        super().__init__(
            f"{len(missing)} requirement(s) of {', '.join(tasks)} not met; "
            f"install them with: idflow tasks deps --install {' '.join(tasks)}"
        )
        self.missing = missing

    def details(self) -> list[str]:
        return [str(s) for s in self.missing]


# -- choosing tasks --------------------------------------------------------------------------------


def select_tasks(config: Config, names: Sequence[str], all_tasks: bool, *, allow_none: bool = False) -> list[LocalTask]:
    """The local tasks to run: the named ones, or every one with ``all_tasks``."""
    from idflow.repo.task_files import discover_tasks_partial

    tasks_dir = config.require_tasks_dir()
    found, problems = discover_tasks_partial(tasks_dir, owner_email=config.owner_email, import_root=config.root)
    if all_tasks:
        if problems:
            raise DefinitionError(problems, what="task")
        if not found and not allow_none:
            raise WorkerError(f"no tasks under {config.tasks_dir}")
        return found
    by_name = {t.name: t for t in found}
    absent = [n for n in dict.fromkeys(names) if n not in by_name]
    if absent:
        if problems:
            raise DefinitionError(problems, what="task")
        known = ", ".join(sorted(by_name)) or "none"
        raise WorkerError(f"no local task named {', '.join(absent)} under {config.tasks_dir} (known: {known})")
    for problem in problems:
        log.warning("problem in a task file not started", problem=str(problem))
    return [by_name[n] for n in dict.fromkeys(names)]


# -- importing task code ---------------------------------------------------------------------------


def mount_tasks_package(tasks_dir: Path | str) -> ModuleType:
    """Make ``idflow.tasks`` read its modules from ``tasks_dir`` (here and in processes started from here).

    Idempotent for the same folder; a different folder drops the modules imported from the old one.
    """
    import idflow.tasks

    idflow.tasks.mount(tasks_dir)
    return idflow.tasks


def module_name(task: LocalTask | Path, tasks_dir: Path) -> str:
    """``idflow.tasks.<folder>.<file>`` for a task file (or a task's first file) under ``tasks_dir``."""
    path = task if isinstance(task, Path) else task.path
    parts = list(path.resolve().relative_to(Path(tasks_dir).resolve()).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def _import_task_module(tasks_dir: str, module: str) -> ModuleType:
    mount_tasks_package(tasks_dir)
    return importlib.import_module(module)


def _attribute(module: ModuleType, qualname: str) -> Any:
    value: Any = module
    for part in qualname.split("."):
        value = getattr(value, part)
    return value


def _registered_function(
    task_name: str, module: ModuleType, function: str, domain: str | None = None
) -> Callable[..., Any]:
    """The function the decorator registered for ``task_name`` in ``domain`` (else the module's attribute,
    unwrapped)."""
    from conductor.client.automator.task_handler import get_registered_workers

    for worker in get_registered_workers():
        func = worker.execute_function
        if (
            worker.get_task_definition_name() == task_name
            and worker.domain == domain
            and getattr(func, "__module__", None) == module.__name__
        ):
            return func
    return inspect.unwrap(_attribute(module, function))


class TaskFunction:
    """A worker function, by reference: picklable, and importable in a spawned child.

    Calling it calls the task's function. ``__wrapped__`` lets ``inspect.signature`` (which the SDK uses
    to map task input to parameters) see the real signature.
    """

    def __init__(self, tasks_dir: str, module: str, task_name: str, function: str, domain: str | None = None):
        self.tasks_dir = tasks_dir
        self.module = module
        self.task_name = task_name
        self.function = function
        self.domain = domain
        self._func: Callable[..., Any] | None = None

    def resolve(self) -> Callable[..., Any]:
        if self._func is None:
            loaded = _import_task_module(self.tasks_dir, self.module)
            self._func = _registered_function(self.task_name, loaded, self.function, self.domain)
        return self._func

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self.resolve()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self.resolve()(*args, **kwargs)
        except Exception as exc:
            _note_failure(exc)
            raise

    def __getstate__(self) -> dict[str, Any]:
        return {"tasks_dir": self.tasks_dir, "module": self.module, "task_name": self.task_name,
                "function": self.function, "domain": self.domain}  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"domain": None, **state})
        self._func = None
        self.resolve()  # import now: a broken module shows at start, not at the first task

    def __repr__(self) -> str:
        return f"TaskFunction({self.module}.{self.function} for {self.task_name!r})"


class AsyncTaskFunction(TaskFunction):
    """``TaskFunction`` for ``async def`` workers: the SDK picks its async runner by ``__call__``."""

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        try:
            return await self.resolve()(*args, **kwargs)
        except Exception as exc:
            _note_failure(exc)
            raise


# The SDK turns an exception of a worker function into a FAILED result and then reports the execution
# as "completed"; the wrapper notes the error here (by task id) so the log line can say "failed".
_failures: dict[str, str] = {}
_failures_lock = threading.Lock()


def _note_failure(error: BaseException) -> None:
    try:
        from conductor.client.context.task_context import get_task_context

        task_id = get_task_context().get_task_id()
    except Exception:
        return
    if task_id:
        with _failures_lock:
            _failures[task_id] = _one_line(error)


def _take_failure(task_id: str) -> str | None:
    with _failures_lock:
        return _failures.pop(task_id, None)


def build_workers(config: Config, tasks: Sequence[LocalTask]) -> list[Any]:
    """Import the tasks' modules and collect one SDK worker per task and domain (see "Worker styles")."""
    from conductor.client.automator.task_handler import get_registered_workers

    from idflow.repo.task_files import WorkerSource

    tasks_dir = str(config.tasks_dir)
    mount_tasks_package(tasks_dir)
    workers = []
    for task in tasks:
        sources = task.workers or (WorkerSource(task.path, task.line, task.module, "function", task.function, None),)
        by_module: dict[str, tuple[ModuleType, list[WorkerSource]]] = {}
        for source in sources:
            name = module_name(source.path, config.tasks_dir)
            if name not in by_module:
                by_module[name] = (_import(config, task.name, source.path, name), [])
            by_module[name][1].append(source)
        registered = get_registered_workers() if any(s.style == "function" for s in sources) else []
        mine: list[Any] = []
        for name, (module, module_sources) in by_module.items():
            styles = {s.style for s in module_sources}
            if "function" in styles:
                mine += [
                    w for w in registered
                    if w.get_task_definition_name() == task.name
                    and getattr(w.execute_function, "__module__", None) == name
                ]  # fmt: skip
            if "object" in styles:
                mine += _module_workers(module, task.name, _sdk_worker_class())
            for source in module_sources:
                if source.style == "class":
                    mine += _class_workers(config, task.name, module, source)
        if len(mine) < len(sources):
            where = config.relative(task.path)
            found = f"registered {len(mine)} of its {len(sources)} workers" if mine else "registered no worker"
            raise WorkerError(
                f"importing the module(s) of task {task.name!r} ({where}) {found}; a Worker(...) must be "
                "made when the module is imported (not under `if __name__ == '__main__':`)"
            )
        for worker in mine:
            func = getattr(worker, "execute_function", None)
            if func is not None and not isinstance(func, TaskFunction):
                is_async = inspect.iscoroutinefunction(func)
                wrapper = (AsyncTaskFunction if is_async else TaskFunction)(
                    tasks_dir, func.__module__, task.name, func.__qualname__, worker.domain
                )
                wrapper._func = func
                worker.execute_function = wrapper
            if getattr(worker, "register_task_def", False):
                log.warning("ignoring register_task_def: definitions are registered by idflow apply", task=task.name)
                worker.register_task_def = False
            workers.append(worker)
    return workers


def _import(config: Config, task: str, path: Path, name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        where = config.relative(path)
        raise WorkerError(f"cannot import the module of task {task} ({where}): {type(exc).__name__}: {exc}") from exc


def _sdk_worker_class() -> type:
    from conductor.client.worker.worker import Worker

    return Worker


def _module_workers(module: ModuleType, task_name: str, kind: type) -> list[Any]:
    """Instances of ``kind`` for ``task_name`` among the module's globals (or in lists, tuples, dicts)."""
    found: list[Any] = []
    for value in vars(module).values():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, kind) and item.get_task_definition_name() == task_name and item not in found:
                found.append(item)
    return found


def _class_workers(config: Config, task_name: str, module: ModuleType, source: Any) -> list[Any]:
    cls = getattr(module, source.symbol or "", None)
    if not isinstance(cls, type):
        raise WorkerError(f"{config.relative(source.path)}:{source.line}: no class {source.symbol} after import")
    existing = _module_workers(module, task_name, cls)
    if existing:
        return existing[:1]
    try:
        return [cls()]
    except Exception as exc:
        raise WorkerError(
            f"{config.relative(source.path)}:{source.line}: cannot create the worker {source.symbol}() of task "
            f"{task_name}: {type(exc).__name__}: {exc} (give its __init__ no required parameters, or make "
            "one instance at module level)"
        ) from exc


# -- logging from the workers ----------------------------------------------------------------------


class WorkerLog:
    """SDK task-runner event listener that writes idflow log lines (in worker processes too)."""

    def __init__(self, fmt: str = "text", level: str = "info", debug: bool = False, secrets: tuple[str, ...] = ()):
        self.fmt = fmt
        self.level = level
        self.debug = debug
        self.secrets = tuple(secrets)  # masked in the workers' log lines too
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        return {"fmt": self.fmt, "level": self.level, "debug": self.debug, "secrets": self.secrets, "_pid": self._pid}

    def _log(self) -> Any:
        if os.getpid() != self._pid:  # a spawned worker process: set up logging as the parent did
            from idflow.log import configure_logging
            from idflow.masking import register_secrets

            configure_logging(level=self.level, fmt=self.fmt, debug=self.debug)
            register_secrets(self.secrets)
            self._pid = os.getpid()
        return log

    def on_poll_completed(self, event: Any) -> None:
        if event.tasks_received:
            self._log().info("task polled", task=event.task_type, received=event.tasks_received)

    def on_poll_failure(self, event: Any) -> None:
        self._log().warning("poll failed", task=event.task_type, error=_one_line(event.cause))

    def on_task_execution_started(self, event: Any) -> None:
        self._log().info("task started", **_task_fields(event))

    def on_task_execution_completed(self, event: Any) -> None:
        error = _take_failure(event.task_id)
        if error is not None:
            self._log().warning("task failed", **_task_fields(event), ms=round(event.duration_ms), error=error)
            return
        self._log().info("task completed", **_task_fields(event), ms=round(event.duration_ms))

    def on_task_execution_failure(self, event: Any) -> None:
        self._log().warning("task failed", **_task_fields(event), error=_one_line(event.cause))

    def on_task_update_failure(self, event: Any) -> None:
        self._log().error(
            "task result not delivered", task=event.task_type, task_id=event.task_id, error=_one_line(event.cause)
        )


def _task_fields(event: Any) -> dict[str, Any]:
    return {"task": event.task_type, "task_id": event.task_id, "workflow_id": event.workflow_instance_id}


def _one_line(error: Any) -> str:
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    return " ".join(text.split())[:300] or type(error).__name__


# -- running ---------------------------------------------------------------------------------------


def sdk_configuration(config: Config, debug: bool = False) -> Any:
    """The SDK ``Configuration`` for idflow's server URL and credentials (never read from the SDK's env)."""
    from conductor.client.configuration.configuration import Configuration
    from conductor.client.configuration.settings.authentication_settings import AuthenticationSettings

    auth = None
    if config.credentials is not None:
        auth = AuthenticationSettings(key_id=config.credentials.key_id, key_secret=config.credentials.key_secret)
    return Configuration(
        server_api_url=config.server_url_with_login,  # the SDK sends URL userinfo as basic auth
        authentication_settings=auth,
        # The SDK's own log lines: errors only (a failing task's traceback, say); idflow logs the rest.
        log_level="DEBUG" if debug else "ERROR",
    )


class _StopRequested:
    """Turns SIGINT/SIGTERM into an event the main loop waits on; restores the old handlers after."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal: int | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopRequested:
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.signal = signum
        self.event.set()

    def __exit__(self, *_exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)


def run_workers(
    config: Config,
    names: Sequence[str] = (),
    *,
    all_tasks: bool = False,
    threads: bool = False,
    log_format: str = "text",
    log_level: str = "info",
    debug: bool = False,
    stop: threading.Event | None = None,
) -> None:
    """Run the workers of the chosen tasks until SIGINT/SIGTERM (or ``stop`` is set), then stop them all."""
    tasks = select_tasks(config, names, all_tasks)
    ensure_requirements(tasks)
    workers = build_workers(config, tasks)
    configuration = sdk_configuration(config, debug)
    listener = WorkerLog(log_format, log_level, debug, config.secrets)
    with _StopRequested() as requested:
        pool = (_ThreadRunner if threads else _ProcessRunner)(workers, configuration, listener)
        try:
            pool.start()
            started = [w.get_task_definition_name() for w in workers]
            log.info(
                "workers started",
                mode="threads" if threads else "processes",
                tasks=",".join(started),
                server=config.server_url,
            )
            for worker, ident in zip(workers, pool.idents(), strict=True):
                domain = {"domain": worker.get_domain()} if worker.get_domain() else {}
                log.info("worker started", task=worker.get_task_definition_name(), **domain, **ident)
            while not requested.wait(0.5) and not (stop is not None and stop.is_set()):
                pass
            why = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}.get(requested.signal or 0, "stop requested")
            log.info("stopping workers", reason=why)
        finally:
            pool.stop()
    log.info("workers stopped", count=len(workers))


class _ProcessRunner:
    """One process per worker, under the SDK's TaskHandler (which restarts a process that dies)."""

    def __init__(self, workers: list[Any], configuration: Any, listener: WorkerLog):
        from conductor.client.automator.task_handler import TaskHandler

        self.handler = TaskHandler(
            workers=workers,
            configuration=configuration,
            scan_for_annotated_workers=False,  # exactly the selected tasks, not whatever got imported
            import_modules=None,  # already imported by build_workers (as idflow.tasks.*)
            event_listeners=[listener],
        )

        self._stopped = False

    def start(self) -> None:
        self.handler.start_processes()

    def idents(self) -> list[dict[str, Any]]:
        return [{"pid": p.pid} for p in self.handler.task_runner_processes]

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.handler.stop_processes()  # terminates every worker process and waits for it (then kills)
        self.handler.logger_process.join(timeout=5)


class _ThreadRunner:
    """One SDK TaskRunner per worker, each in a daemon thread of this process."""

    def __init__(self, workers: list[Any], configuration: Any, listener: WorkerLog):
        from conductor.client.automator.async_task_runner import AsyncTaskRunner
        from conductor.client.automator.task_runner import TaskRunner

        self.runners: list[Any] = []
        self.threads: list[threading.Thread] = []
        for worker in workers:
            name = worker.get_task_definition_name()
            if isinstance(getattr(worker, "execute_function", None), AsyncTaskFunction) or (
                inspect.iscoroutinefunction(getattr(worker, "execute", None))
            ):
                runner = AsyncTaskRunner(worker, configuration, None, [listener])
                target: Callable[[], Any] = lambda r=runner: _run_async(r)  # noqa: E731
            else:
                runner = TaskRunner(worker, configuration, None, [listener])
                target = runner.run
            self.runners.append(runner)
            self.threads.append(threading.Thread(target=target, name=f"idflow-worker-{name}", daemon=True))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def idents(self) -> list[dict[str, Any]]:
        return [{"thread": t.name} for t in self.threads]

    def stop(self) -> None:
        for runner in self.runners:
            # TaskRunner.stop() sets the flag its loop checks; AsyncTaskRunner's stop is a coroutine
            # doing the same, which cannot be awaited from here.
            runner._shutdown = True
        for thread in self.threads:
            if thread.ident is not None:
                thread.join(timeout=THREAD_JOIN_SECONDS)
            if thread.is_alive():
                log.warning("worker thread still busy; leaving it behind", thread=thread.name)


def _run_async(runner: Any) -> None:
    import asyncio

    asyncio.run(runner.run())
