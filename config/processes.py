"""Child processes that are stopped as a whole: the servers, workers and Redis that the local run
command, the benchmarks and the end-to-end tests start.

A child runs in a session of its own, or in a process group of its own, so that a terminal's
Ctrl-C reaches only the parent, and so that stopping the child also reaches what it started:
rq's work-horse leaves the worker's process group (os.setpgrp), but not its session.
"""

import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_INTERVAL = 0.05


class ChildFailed(Exception):
    """The child exited, or did not answer, before what was waited for; the message says which."""


class Child:
    """A running command. With `collect_output`, its stdout and stderr are read line by line
    into `lines` (by a thread of its own, so that a chatty child never blocks on a full pipe);
    otherwise it writes to this process's own output.

    `own_session`: a session of its own (the default), which stop() and kill() sweep too; when
    False, only a process group of its own. `die_with_parent`: on Linux, the child gets SIGTERM
    when this process dies, even by SIGKILL.
    """

    def __init__(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        cwd: str | Path | None = None,
        collect_output: bool = False,
        own_session: bool = True,
        die_with_parent: bool = False,
    ):
        self.command = command
        self.own_session = own_session
        self.lines: list[str] = []
        self.process = subprocess.Popen(  # noqa: S603 - callers pass fixed commands
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if collect_output else None,
            stderr=subprocess.STDOUT if collect_output else None,
            text=True,
            start_new_session=own_session,
            process_group=None if own_session else 0,
            preexec_fn=_die_with_parent_hook() if die_with_parent else None,
        )
        self._reader: threading.Thread | None = None
        if collect_output:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        return self.process.poll()

    def output(self) -> str:
        return "\n".join(self.lines)

    def wait(self, *, timeout: float | None = None) -> int:
        """Its exit code, once it has exited and its last lines are read."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise ChildFailed(f"still running after {timeout} s") from exc
        self._join_reader()
        return code

    def wait_for_line(self, pattern: str, *, timeout: float) -> re.Match:
        """The first line of its output matching `pattern`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            exited = self.process.poll() is not None
            if exited:
                self._join_reader()  # the last lines
            for line in list(self.lines):
                match = re.search(pattern, line)
                if match:
                    return match
            if exited:
                raise ChildFailed(f"exited with code {self.process.returncode} before {pattern!r}")
            if time.monotonic() > deadline:
                raise ChildFailed(f"no line matching {pattern!r} within {timeout} s")
            time.sleep(POLL_INTERVAL)

    def wait_for_http(self, url: str, *, timeout: float) -> None:
        """Waits until `url` answers 200, as long as the child runs."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                self._join_reader()
                raise ChildFailed(
                    f"exited with code {self.process.returncode} before serving {url}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise ChildFailed(f"{url} did not answer 200 within {timeout} s")
            time.sleep(0.2)

    def stop(
        self, *, grace: float, term_group: bool = True, second_grace: float | None = None
    ) -> bool:
        """Stops it politely, then for sure; True if it exited before the SIGKILL.

        SIGTERM (to its process group, or to the child alone if not `term_group`), and up to
        `grace` seconds to exit; with `second_grace`, a second SIGTERM and that long again (rq's
        worker finishes its job on the first, and kills it on the second). Then SIGKILL for
        whatever is left of its process group and, if it has one, of its session.
        """
        polite = self.process.poll() is not None
        for timeout in (grace, second_grace):
            if polite or timeout is None:
                break
            self._signal(signal.SIGTERM, group=term_group)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                continue
            polite = True
        self._signal(signal.SIGKILL, group=True)
        if self.own_session:
            self._signal_session(signal.SIGKILL)
        self.process.wait()
        self._join_reader()
        if self.process.stdout is not None:
            self.process.stdout.close()
        return polite

    def kill(self, *, timeout: float = 10) -> None:
        """SIGKILL, as a crash or the OOM killer would: every process of its group and session,
        including those in process groups of their own (rq's work-horse). Returns once they are
        all gone."""
        self._signal(signal.SIGKILL, group=True)
        if self.own_session:
            self._signal_session(signal.SIGKILL)
        self.process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        while self.own_session and session_members(self.process.pid):
            if time.monotonic() > deadline:
                raise ChildFailed(f"processes of session {self.process.pid} outlived SIGKILL")
            time.sleep(POLL_INTERVAL)

    def session_members(self) -> list[int]:
        return session_members(self.process.pid)

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def _join_reader(self) -> None:
        if self._reader is not None:
            self._reader.join(timeout=5)

    def _signal(self, signum: int, *, group: bool) -> None:
        try:
            if group:
                os.killpg(self.process.pid, signum)
            else:
                self.process.send_signal(signum)
        except (ProcessLookupError, PermissionError):
            pass

    def _signal_session(self, signum: int) -> None:
        for pid in session_members(self.process.pid):
            try:
                os.killpg(os.getpgid(pid), signum)
                os.kill(pid, signum)
            except (ProcessLookupError, PermissionError):
                pass


def session_members(session_id: int) -> list[int]:
    """Live (non-zombie) processes of a session, found through /proc (Linux; none elsewhere)."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            # Fields after the command name: state ppid pgrp session ...
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if fields[0] not in ("Z", "X") and int(fields[3]) == session_id:
            members.append(int(entry.name))
    return members


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when this process dies, even by SIGKILL.

    Elsewhere there is no such call, and children are only stopped by a clean shutdown."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before any fork
    except (OSError, AttributeError):
        return None
    parent_pid = os.getpid()

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook
