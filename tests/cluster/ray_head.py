"""A private local Ray head for ``ray job submit`` tests, and the helpers to talk to it.

``RayHead.start()`` runs ``ray start --head --block`` in its own process group, on free ports and a
short private temp dir, with the project's venv first on PATH (so ``python`` in a job is the venv's)
and ``RAY_AUTH_MODE`` set explicitly (a plain ``ray.init()`` elsewhere may have written
``~/.ray/auth_token``, after which an unset mode turns token auth on for the head but not for the
client). ``stop()`` signals that process and then its process group and the descendants it recorded
— by their own ids; never ``ray stop``, which would kill every Ray process on the machine.

Example (a fixture):
    >>> @pytest.fixture(scope="module")                          # doctest: +SKIP
    ... def ray_head(tmp_path_factory):
    ...     with RayHead.start(tmp_path_factory.mktemp("head")) as head:
    ...         yield head
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


WORKER_PORTS = 200  # width of the head's worker port range


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def worker_port_range_start(taken: list[int], width: int = WORKER_PORTS) -> int:
    """A free port ``p`` such that ``[p, p + width]`` holds none of ``taken``: ``ray start`` refuses a worker
    port range that overlaps another component's port (a flaky setup error before this check).

    Example:
        >>> p = worker_port_range_start([40000]); not (p <= 40000 <= p + WORKER_PORTS) and p + WORKER_PORTS <= 65535
        True
    """
    while True:
        p = free_port()
        if p + width <= 65535 and not any(p <= t <= p + width for t in taken):
            return p


def ray_env(auth_mode: str = "token", token_path: Path | None = None,
            extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the head and for ``ray job`` clients: venv first on PATH, auth mode explicit,
    and with token auth a private token file (``RAY_AUTH_TOKEN_PATH``) instead of ~/.ray/auth_token."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    if token_path is not None:
        env["RAY_AUTH_TOKEN_PATH"] = str(token_path)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["RAY_AUTH_MODE"] = auth_mode
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    env.update(extra or {})
    return env


def _proc_table() -> dict[int, tuple[int, int]]:
    """``pid -> (ppid, start time in clock ticks)`` from /proc (Linux); empty elsewhere."""
    table: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
            table[int(entry.parent.name)] = (int(fields[1]), int(fields[19]))
        except (OSError, IndexError, ValueError):
            continue
    return table


def _descendants(root: int) -> dict[int, int]:
    """``pid -> start time`` of every descendant of ``root``."""
    table = _proc_table()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, int] = {}
    stack = list(children.get(root, []))
    while stack:
        pid = stack.pop()
        if pid not in out:
            out[pid] = table[pid][1]
            stack.extend(children.get(pid, []))
    return out


def _kill_if_same(pid: int, started: int) -> None:
    """SIGKILL ``pid`` only if it is still the process recorded (same start time), not a reused id."""
    now = _proc_table().get(pid)
    if now is not None and now[1] == started:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


@dataclass
class RayHead:
    """A running private head; ``dashboard_url`` is what ``ray job submit --address`` takes."""

    proc: subprocess.Popen
    temp_dir: Path
    gcs_port: int
    dashboard_port: int
    env: dict[str, str]
    log_path: Path
    descendants: dict[int, int] = field(default_factory=dict)  # pid -> start time (ticks)

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    @classmethod
    def start(cls, log_dir: Path, *, num_cpus: int = 2, auth_mode: str = "token",
              timeout: float = 120.0, env: dict[str, str] | None = None, tries: int = 3) -> RayHead:
        """Start the head and wait until its job API answers; raises RuntimeError with the log tail.

        The free ports are picked before ``ray start`` binds them, so a Ray instance of another test
        process can take one in between ("already occupied"): that start is retried on new ports.
        """
        kwargs = {"num_cpus": num_cpus, "auth_mode": auth_mode, "timeout": timeout, "env": env}
        for _ in range(tries - 1):
            try:
                return cls._start_once(log_dir, **kwargs)
            except RuntimeError as err:
                if "already occupied" not in str(err):
                    raise
        return cls._start_once(log_dir, **kwargs)  # the last try's failure is the caller's

    @classmethod
    def _start_once(cls, log_dir: Path, *, num_cpus: int, auth_mode: str, timeout: float,
                    env: dict[str, str] | None) -> RayHead:
        ray_exe = VENV_BIN / "ray"
        if not ray_exe.exists():
            raise RuntimeError(f"no ray executable next to {sys.executable}")
        # Unix socket paths are limited to ~107 bytes: keep the temp dir short.
        temp_dir = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))
        ports = free_ports(9)
        (gcs, dash, client, node_mgr, obj_mgr, agent_listen, agent_grpc, metrics, rt_env) = ports
        wport = worker_port_range_start(ports)
        cmd = [
            str(ray_exe), "start", "--head", "--block",
            "--num-cpus", str(num_cpus), "--num-gpus", "0",
            "--node-ip-address", "127.0.0.1",
            "--port", str(gcs),
            "--include-dashboard", "true",
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash),
            "--ray-client-server-port", str(client),
            "--node-manager-port", str(node_mgr), "--object-manager-port", str(obj_mgr),
            "--dashboard-agent-listen-port", str(agent_listen),
            "--dashboard-agent-grpc-port", str(agent_grpc),
            "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(rt_env),
            "--min-worker-port", str(wport), "--max-worker-port", str(wport + WORKER_PORTS),
            "--temp-dir", str(temp_dir),
            "--disable-usage-stats",
        ]
        log_dir.mkdir(parents=True, exist_ok=True)
        token_path = None
        if auth_mode == "token":  # `ray start` does not create a token; make a private one
            token_path = log_dir / "auth_token"
            fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        full_env = ray_env(auth_mode, token_path, env)
        log_path = log_dir / "ray-head.log"
        log = open(log_path, "w")  # noqa: SIM115 - the child owns it until stop()
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=full_env, cwd=str(ROOT),
                                start_new_session=True)
        log.close()
        head = cls(proc, temp_dir, gcs, dash, full_env, log_path)
        try:
            head._wait_ready(timeout)
        except BaseException:
            head.stop()
            raise
        return head

    def _wait_ready(self, timeout: float) -> None:
        """Wait for the dashboard port to answer (401 counts: token auth is on), then for the job API
        to answer the real client (``ray job list``), which also proves the client's auth setting."""
        deadline = time.monotonic() + timeout
        http_up = False
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.proc.returncode}:\n{self.log_tail()}")
            if not http_up:
                try:
                    with urllib.request.urlopen(f"{self.dashboard_url}/api/version", timeout=2):
                        http_up = True
                except urllib.error.HTTPError:
                    http_up = True
                except OSError:
                    pass
            if http_up:
                listed = self.job("list", timeout=60)
                if listed.returncode == 0:
                    self._record_descendants()
                    return
                self.last_error = (listed.stderr or listed.stdout)[-2000:]
            time.sleep(1)
        raise RuntimeError(f"the Ray head did not answer within {timeout:.0f} s: "
                           f"{getattr(self, 'last_error', '')}\n{self.log_tail()}")

    def _record_descendants(self) -> None:
        self.descendants.update(_descendants(self.proc.pid))

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def job(self, *args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``ray job ARGS --address <this head>`` (e.g. ``job("submit", "--working-dir", ".", "--", ...)``)."""
        sub, rest = args[0], list(args[1:])
        cmd = [str(VENV_BIN / "ray"), "job", sub, "--address", self.dashboard_url, *rest]
        return subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=str(cwd or ROOT),
                              timeout=timeout, check=False)

    def stop(self, grace: float = 20.0) -> None:
        """Stop this head only: SIGTERM to ``ray start --block`` (it shuts its children down), then
        SIGKILL to its process group and to the descendants recorded at start. Never ``ray stop``."""
        self._record_descendants()
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=grace)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own group: start_new_session=True
        except (ProcessLookupError, PermissionError):
            pass
        for pid, started in self.descendants.items():
            _kill_if_same(pid, started)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> RayHead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
