"""PgBouncer from Debian's package (`make test` installs it), in transaction mode, on a free port, in front of the
test PostgreSQL: the way docs/deploy.md tells an operator to run it.

PgBouncer refuses to run as root; as root we start it as the `postgres` user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from sqlalchemy.engine import make_url

from tests.server_process import free_port

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen_port}
unix_socket_dir =
auth_type = trust
auth_file = {directory}/users.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = 20
logfile = {directory}/pgbouncer.log
pidfile = {directory}/pgbouncer.pid
"""


def installed() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in ("/usr/sbin/pgbouncer",) if os.access(p, os.X_OK)), None)


class PgBouncer:
    def __init__(self, database_url: str) -> None:
        self.target = make_url(database_url)
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="keeptabs-pgbouncer-"))
        self.process: subprocess.Popen[bytes] | None = None

    def url_for(self, database_url: str) -> str:
        """The same database, reached through PgBouncer."""
        return make_url(database_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def log(self) -> str:
        path = self.directory / "pgbouncer.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> PgBouncer:
        executable = installed()
        assert executable is not None, "pgbouncer is not installed (make test installs it)"
        config = self.directory / "pgbouncer.ini"
        config.write_text(
            CONFIG.format(
                host=self.target.host or "127.0.0.1",
                port=self.target.port or 5432,
                listen_port=self.port,
                directory=self.directory,
            )
        )
        (self.directory / "users.txt").write_text(f'"{self.target.username or "postgres"}" ""\n')
        user = "postgres" if os.geteuid() == 0 else None
        if user is not None:
            entry = pwd.getpwnam(user)
            for path in (self.directory, *self.directory.iterdir()):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self.process = subprocess.Popen(
            [executable, str(config)], user=user, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        self._wait_until_listening()
        return self

    def _wait_until_listening(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited with {self.process.returncode}:\n{self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"pgbouncer did not start listening:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> PgBouncer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
