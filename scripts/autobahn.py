#!/usr/bin/env python3
"""Run the Autobahn|Testsuite fuzzing client against Protocol Lab's WebSocket echo.

Usage (from the repository root)::

    .venv/bin/python scripts/autobahn.py            # cases 1.* .. 10.*
    .venv/bin/python scripts/autobahn.py --cases 7.9.5 --verbose

What it does, in order:

1. Sets up the test suite once and caches it in ``.autobahn/`` (gitignored).
   ``autobahntestsuite`` only runs on Python 2.7, so it lives in its own
   Python 2.7 virtualenv, built by a virtualenv release that can still create
   one and installed from an exactly pinned dependency set.  A stamp file
   records what was installed; later runs reuse the environment and rebuild it
   only when the pins or the interpreter change.
2. Starts ``python -m server --port 0`` and reads the chosen port from the URL
   it prints.
3. Runs ``wstest -m fuzzingclient`` against ``ws://127.0.0.1:PORT/ws/echo``.
4. Reads the report's ``index.json``, prints a summary and stops the server.

Exit status: 0 when every case ended OK, NON-STRICT, INFORMATIONAL or
UNIMPLEMENTED; 1 when any case FAILED or produced no result; 2 when the
harness itself could not run (no Python 2.7, install failure, server did not
start, wstest timed out); 130 when interrupted.  The last HTML/JSON report is
copied to ``.autobahn/reports/``.
"""

import argparse
import ast
import contextlib
import fcntl
import hashlib
import json
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = REPO_ROOT / ".autobahn"
PY2_VENV = STATE_DIR / "venv"
BOOTSTRAP_VENV = STATE_DIR / "bootstrap"
STAMP_FILE = PY2_VENV / ".protocol-lab-stamp"
SETUP_LOG = STATE_DIR / "setup.log"
REPORT_COPY = STATE_DIR / "reports"

DEFAULT_PYTHON2 = "/root/.pyenv/versions/2.7.18/bin/python"

# virtualenv 20.22 dropped support for *creating* Python <= 3.6 environments,
# so 20.21.x is the newest line that can still build a 2.7 venv.  It seeds
# pip 20.3.4 / setuptools 44.1.1 / wheel 0.37.1 from wheels it bundles, so
# creating the venv needs no network and is reproducible.
VIRTUALENV_PIN = "virtualenv==20.21.1"

# The complete Python 2.7 dependency closure of autobahntestsuite 0.8.2,
# pinned exactly.  Every newer release of these either dropped Python 2.7 or
# breaks the test suite (autobahntestsuite needs the autobahn 0.10.x API;
# Twisted 20.x needs a newer incremental that uses `typing` syntax).
# autobahntestsuite 25.10.1 also exists on PyPI but is still Python 2 code and
# its sdist ships without the requirements.txt its setup.py reads, so it would
# install without any dependencies; 0.8.2 declares them properly.
# wsaccel (C masking + UTF-8 validation) keeps the 9.* payload cases fast; it
# and ujson are compiled from source (no cp27 wheels), which needs gcc and the
# interpreter's headers, both present with a pyenv-built Python.
PY2_REQUIREMENTS: tuple[str, ...] = (
    "autobahntestsuite==0.8.2",
    "autobahn[twisted,accelerate]==0.10.9",
    "txaio==2.1.0",
    "Twisted==19.10.0",
    "zope.interface==4.6.0",
    "incremental==16.10.1",
    "Automat==22.10.0",
    "attrs==21.4.0",
    "constantly==15.1.0",
    "hyperlink==21.0.0",
    "PyHamcrest==1.10.1",
    "idna==2.10",
    "typing==3.10.0.0",
    "six==1.16.0",
    "pyOpenSSL==19.1.0",
    "cryptography==3.3.2",
    "cffi==1.15.1",
    "pycparser==2.21",
    "enum34==1.1.10",
    "ipaddress==1.0.23",
    "service-identity==18.1.0",
    "pyasn1==0.5.1",
    "pyasn1-modules==0.3.0",
    "Jinja2==2.11.3",
    "MarkupSafe==1.1.1",
    "Werkzeug==1.0.1",
    "klein==17.10.0",
    "unittest2==1.1.0",
    "linecache2==1.0.0",
    "traceback2==1.4.0",
    "argparse==1.4.0",
    "wsaccel==0.6.2",
    "ujson==1.35",
)

DEFAULT_CASES: tuple[str, ...] = tuple(f"{n}.*" for n in range(1, 11))
ACCEPTABLE_BEHAVIORS = frozenset({"OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED"})
AGENT = "protocol-lab"
WS_PATH = "/ws/echo"
SERVER_URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)")
# wstest prints the resolved case list once at start-up; it is the only
# authoritative source for "which cases should have a result".
CASES_LINE_RE = re.compile(r"^Cases = (\[.*\])\s*$")
RUNNING_CASE_RE = re.compile(r"^Running test case ID (\S+)")

SERVER_START_TIMEOUT = 30.0
SERVER_STOP_TIMEOUT = 10.0
DEFAULT_WSTEST_TIMEOUT = 480.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_HARNESS = 2
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """An expected, explainable failure of the harness itself (exit status 2).

    Raised for conditions a user can act on (missing interpreter, install
    failure, server not starting, timeout); ``main`` prints only the message.
    """


def log(message: str) -> None:
    """Print a progress line, flushed so CI logs interleave correctly."""
    print(f"[autobahn] {message}", flush=True)


def tail(path: Path, lines: int = 25) -> str:
    """Return the last ``lines`` lines of a text file (empty if unreadable)."""
    try:
        content = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(content[-lines:])


# --------------------------------------------------------------------------
# Setup: Python 2.7 virtualenv with the pinned test suite
# --------------------------------------------------------------------------


def find_python2(explicit: str | None = None) -> Path | None:
    """Locate a Python 2.7 interpreter.

    Order: ``explicit`` (``--python2``), ``$AUTOBAHN_PYTHON2``, the pyenv
    2.7.18 build, then ``python2.7`` on ``PATH``.  Returns None if none exists;
    the caller decides whether that is an error (script) or a skip (tests).
    """

    def usable(path: Path) -> bool:
        return path.is_file() and os.access(path, os.X_OK)

    named = explicit or os.environ.get("AUTOBAHN_PYTHON2")
    if named:
        # An explicitly named interpreter that is missing is not silently
        # replaced by another one: that would hide a misconfiguration.
        return Path(named) if usable(Path(named)) else None
    if usable(Path(DEFAULT_PYTHON2)):
        return Path(DEFAULT_PYTHON2)
    found = shutil.which("python2.7")
    return Path(found) if found else None


def python2_version(python2: Path) -> str:
    """Return the interpreter's full version string, checking it is 2.7."""
    try:
        result = subprocess.run(
            [str(python2), "-c", "import sys; sys.stdout.write(sys.version.split()[0])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"cannot run {python2}: {exc}") from None
    version = result.stdout.strip()
    if result.returncode != 0 or not version.startswith("2.7."):
        raise HarnessError(
            f"{python2} is not a working Python 2.7 interpreter (got {version or 'nothing'!r})"
        )
    return version


def setup_fingerprint(python2: Path, version: str) -> str:
    """Hash everything that determines the venv's content, for the stamp file."""
    data = {
        "python2": str(python2),
        "version": version,
        "virtualenv": VIRTUALENV_PIN,
        "requirements": list(PY2_REQUIREMENTS),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def setup_lock() -> Iterator[None]:
    """Serialise setup between concurrent runs sharing one ``.autobahn/``."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with (STATE_DIR / "setup.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_logged(cmd: Sequence[str], what: str, env: dict[str, str] | None = None) -> None:
    """Run a setup command, appending its output to the setup log.

    pip and virtualenv are chatty (and pip 20 on Python 2.7 prints deprecation
    banners), so their output goes to a file and only its tail is shown when
    the step fails.
    """
    with SETUP_LOG.open("a") as logfile:
        logfile.write(f"\n$ {shlex.join(cmd)}\n")
        logfile.flush()
        try:
            result = subprocess.run(
                cmd,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                timeout=900,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HarnessError(f"{what} failed: {exc}") from None
    if result.returncode != 0:
        raise HarnessError(
            f"{what} failed (exit {result.returncode}); last lines of {SETUP_LOG}:\n"
            + tail(SETUP_LOG)
        )


def venv_is_healthy() -> bool:
    """Cheap check that a stamped venv still imports the suite's key modules."""
    python = PY2_VENV / "bin" / "python"
    if not (python.is_file() and (PY2_VENV / "bin" / "wstest").is_file()):
        return False
    try:
        result = subprocess.run(
            [str(python), "-c", "import autobahntestsuite.fuzzing, wsaccel"],
            capture_output=True,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def ensure_bootstrap() -> Path:
    """Return a ``virtualenv`` executable of the pinned release.

    It goes into a throwaway Python 3 venv of its own rather than the project's
    ``.venv`` so the project's dependency set is not touched.
    """
    virtualenv = BOOTSTRAP_VENV / "bin" / "virtualenv"
    version = VIRTUALENV_PIN.split("==")[1]
    if virtualenv.is_file():
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            probe = subprocess.run(
                [str(virtualenv), "--version"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if probe.returncode == 0 and f"virtualenv {version} " in probe.stdout:
                return virtualenv
    shutil.rmtree(BOOTSTRAP_VENV, ignore_errors=True)
    log(f"creating bootstrap venv with {VIRTUALENV_PIN}")
    run_logged([sys.executable, "-m", "venv", str(BOOTSTRAP_VENV)], "creating bootstrap venv")
    run_logged(
        [str(BOOTSTRAP_VENV / "bin" / "pip"), "install", "--quiet", VIRTUALENV_PIN],
        f"installing {VIRTUALENV_PIN}",
    )
    return virtualenv


def ensure_wstest(python2: Path) -> Path:
    """Make sure the cached Python 2.7 venv with wstest is up to date.

    Idempotent: returns immediately when the stamp matches and the venv still
    works; otherwise rebuilds it from scratch (a half-installed or differently
    pinned venv is not worth repairing in place).
    """
    version = python2_version(python2)
    fingerprint = setup_fingerprint(python2, version)
    wstest = PY2_VENV / "bin" / "wstest"
    with setup_lock():
        stamped = STAMP_FILE.read_text().strip() if STAMP_FILE.is_file() else ""
        if stamped == fingerprint and venv_is_healthy():
            log(f"using cached test suite in {PY2_VENV.relative_to(REPO_ROOT)}")
            return wstest

        started = time.monotonic()
        log(f"installing Autobahn|Testsuite for Python {version} (log: {SETUP_LOG})")
        SETUP_LOG.write_text("")
        virtualenv = ensure_bootstrap()
        shutil.rmtree(PY2_VENV, ignore_errors=True)
        env = {
            **os.environ,
            # Keep virtualenv's seed-wheel cache inside .autobahn/ instead of
            # the user's home, and never let it phone home for updates.
            "VIRTUALENV_OVERRIDE_APP_DATA": str(STATE_DIR / "virtualenv-data"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_PYTHON_VERSION_WARNING": "1",
        }
        run_logged(
            [
                str(virtualenv),
                "--no-periodic-update",
                "--no-download",
                "-p",
                str(python2),
                str(PY2_VENV),
            ],
            "creating the Python 2.7 virtualenv",
            env=env,
        )
        run_logged(
            [str(PY2_VENV / "bin" / "pip"), "install", "--no-input", *PY2_REQUIREMENTS],
            "installing autobahntestsuite and its pinned dependencies",
            env=env,
        )
        if not venv_is_healthy():
            raise HarnessError(f"autobahntestsuite installed but does not import; see {SETUP_LOG}")
        # Written last, so an interrupted setup is redone on the next run.
        STAMP_FILE.write_text(fingerprint + "\n")
        log(f"test suite installed in {time.monotonic() - started:.1f} s")
    return wstest


# --------------------------------------------------------------------------
# Subprocess plumbing
# --------------------------------------------------------------------------


def pump_lines(stream: IO[str], sink: IO[str], on_line: Callable[[str], None]) -> threading.Thread:
    """Copy a child's output to ``sink`` line by line on a daemon thread.

    The pipe must be drained for the child's whole life, or it blocks once
    the pipe buffer fills; ``on_line`` gets each line for parsing.
    """

    def run() -> None:
        for line in stream:
            sink.write(line)
            sink.flush()
            on_line(line.rstrip("\n"))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_for_port(port: int, deadline: float) -> bool:
    """Poll until something accepts TCP connections on 127.0.0.1:``port``."""
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        time.sleep(0.1)
    return False


def server_env() -> dict[str, str]:
    """Environment for the server process.

    PROTOCOL_LAB_* variables are dropped: the server reads its options from
    them, and a stray one in the caller's shell or CI (a small max size, a
    connection cap) would change what is being tested.  Unbuffered output
    makes the URL line arrive even if the server does not flush stdout.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROTOCOL_LAB_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class Server:
    """The server under test, started as a subprocess."""

    cmd: list[str]
    log_path: Path
    process: subprocess.Popen[str] | None = None
    port: int = 0
    _log: IO[str] | None = field(default=None, repr=False)
    _pump: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> int:
        """Start the server and return the port it printed."""
        self._log = self.log_path.open("w")
        ports: queue.Queue[int] = queue.Queue()

        def on_line(line: str) -> None:
            match = SERVER_URL_RE.search(line)
            if match and ports.empty():
                ports.put(int(match.group(1)))

        try:
            self.process = subprocess.Popen(
                self.cmd,
                cwd=REPO_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._log,
                text=True,
                env=server_env(),
                # Own process group: a Ctrl+C in the terminal reaches only this
                # script, which then stops the server in an orderly way.
                start_new_session=True,
            )
        except OSError as exc:
            raise HarnessError(f"cannot start server {shlex.join(self.cmd)}: {exc}") from None
        assert self.process.stdout is not None
        self._pump = pump_lines(self.process.stdout, self._log, on_line)

        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                self.port = ports.get(timeout=0.2)
                break
            except queue.Empty:
                if self.process.poll() is not None:
                    raise HarnessError(
                        f"server exited with code {self.process.returncode} before printing "
                        f"its URL; last lines of {self.log_path}:\n{tail(self.log_path)}"
                    ) from None
        else:
            raise HarnessError(
                f"server printed no http://127.0.0.1:PORT line within "
                f"{SERVER_START_TIMEOUT:.0f} s; last lines of {self.log_path}:\n"
                f"{tail(self.log_path)}"
            )
        # The URL may be printed just before the socket is listening.
        if not wait_for_port(self.port, deadline):
            raise HarnessError(f"server printed port {self.port} but does not accept connections")
        return self.port

    def exit_code(self) -> int | None:
        """Return the exit code if the server has already exited, else None."""
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        """Stop with SIGINT (the server's normal shutdown), SIGKILL if it hangs."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(SERVER_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"server ignored SIGINT for {SERVER_STOP_TIMEOUT:.0f} s; killing it")
                process.kill()
                process.wait()
        # Let the reader drain the rest of stdout before its log file closes.
        if self._pump is not None:
            self._pump.join(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class WstestRun:
    """Output of one wstest fuzzingclient run."""

    expected_cases: list[str] | None = None
    started_cases: list[str] = field(default_factory=list)


def run_wstest(
    wstest: Path, spec_path: Path, log_path: Path, timeout: float, verbose: bool
) -> WstestRun:
    """Run ``wstest -m fuzzingclient`` and collect what it reports on stdout."""
    run = WstestRun()

    def on_line(line: str) -> None:
        if verbose:
            print(f"  {line}", flush=True)
        if match := CASES_LINE_RE.match(line):
            with contextlib.suppress(ValueError, SyntaxError):
                run.expected_cases = [str(c) for c in ast.literal_eval(match.group(1))]
        elif match := RUNNING_CASE_RE.match(line):
            run.started_cases.append(match.group(1))
            done = len(run.started_cases)
            if not verbose and done % 50 == 0:
                total = len(run.expected_cases or ()) or "?"
                log(f"  ... case {done}/{total} ({match.group(1)})")

    # The suite's own dependencies print Python 2 deprecation warnings on
    # every start; they are noise here.
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONUNBUFFERED": "1"}
    with log_path.open("w") as logfile:
        try:
            process = subprocess.Popen(
                [str(wstest), "-m", "fuzzingclient", "-s", str(spec_path)],
                cwd=spec_path.parent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise HarnessError(f"cannot start wstest: {exc}") from None
        assert process.stdout is not None
        reader = pump_lines(process.stdout, logfile, on_line)
        deadline = time.monotonic() + timeout
        try:
            while process.poll() is None:
                if run.expected_cases == []:
                    # With nothing to run, wstest idles forever instead of
                    # exiting; stop it now rather than at the timeout.
                    raise HarnessError("the requested case patterns select no test cases")
                if time.monotonic() > deadline:
                    last = run.started_cases[-1] if run.started_cases else "none"
                    raise HarnessError(
                        f"wstest did not finish within {timeout:.0f} s ({len(run.started_cases)} "
                        f"cases started, last {last}); log: {log_path}"
                    )
                time.sleep(0.2)
        finally:
            if process.poll() is None:
                # Kill the whole group: wstest is a Twisted process that could
                # leave nothing behind, but be sure.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            reader.join(timeout=5)
    if process.returncode != 0:
        raise HarnessError(
            f"wstest exited with code {process.returncode}; last lines of {log_path}:\n"
            + tail(log_path)
        )
    return run


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


def case_sort_key(case_id: str) -> tuple[int, ...]:
    """Sort '9.10.1' after '9.2.1' (numeric, not lexical)."""
    return tuple(int(part) for part in case_id.split(".") if part.isdigit())


def plain_text(html: str, limit: int = 240) -> str:
    """Strip tags and collapse whitespace in a case description, shortened."""
    text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class Summary:
    """Result of one run, computed from ``index.json``."""

    counts: Counter[str]
    failed: list[str]
    missing: list[str]
    results: dict[str, dict[str, Any]]
    report_dir: Path

    @property
    def passed(self) -> int:
        """Cases whose behavior is acceptable."""
        return sum(n for behavior, n in self.counts.items() if behavior in ACCEPTABLE_BEHAVIORS)

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing is missing."""
        return not self.failed and not self.missing


def read_summary(report_dir: Path, expected: Sequence[str]) -> Summary:
    """Parse the fuzzing client's ``index.json`` into a Summary."""
    index_path = report_dir / "index.json"
    try:
        index = json.loads(index_path.read_text())
    except (OSError, ValueError) as exc:
        raise HarnessError(f"no usable report at {index_path}: {exc}") from None
    results: dict[str, dict[str, Any]] = index.get(AGENT, {})
    counts = Counter(str(r.get("behavior", "MISSING")) for r in results.values())
    failed = sorted(
        (c for c, r in results.items() if r.get("behavior") not in ACCEPTABLE_BEHAVIORS),
        key=case_sort_key,
    )
    missing = sorted(set(expected) - set(results), key=case_sort_key)
    return Summary(counts, failed, missing, results, report_dir)


def print_summary(summary: Summary, total: int, url: str, elapsed: float) -> None:
    """Print behavior counts, then details of every failed or missing case."""
    print()
    print(f"Autobahn|Testsuite fuzzingclient against {url}: {total} cases in {elapsed:.1f} s")
    for behavior, count in sorted(summary.counts.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"  {behavior:<14} {count:>4}")
    if summary.missing:
        print(f"  {'(no result)':<14} {len(summary.missing):>4}")
    for case_id in summary.failed:
        result = summary.results[case_id]
        details: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            details = json.loads((summary.report_dir / result["reportfile"]).read_text())
        print()
        print(f"FAILED {case_id}: {plain_text(details.get('description', '?'))}")
        print(f"  expected: {plain_text(details.get('expectation', '?'))}")
        print(f"  result:   {plain_text(details.get('result', '?'))}")
        code = result.get("remoteCloseCode")
        sent = "no close code" if code is None else f"close code {code}"
        print(
            f"  close:    {result.get('behaviorClose', '?')} (server sent {sent}); "
            f"{plain_text(details.get('resultClose', '?'))}"
        )
    if summary.missing:
        print()
        print(f"NO RESULT for {len(summary.missing)} case(s): {', '.join(summary.missing)}")
    print()
    verdict = "PASS" if summary.ok else "FAIL"
    # Deliberately not "N passed, N failed": CI log readers take that exact
    # shape for a test runner's closing line.
    print(
        f"Summary: {summary.passed}/{total} cases passed; FAILED {len(summary.failed)}; "
        f"no result {len(summary.missing)} => {verdict}"
    )


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; the defaults are what CI runs."""
    parser = argparse.ArgumentParser(
        description="Run Autobahn|Testsuite (fuzzingclient) against the WebSocket echo.",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        default=list(DEFAULT_CASES),
        metavar="PATTERN",
        help="case patterns, e.g. 7.9.5 or '9.*' (default: 1.* .. 10.*)",
    )
    parser.add_argument(
        "--server-cmd",
        help="command that starts the server and prints http://127.0.0.1:PORT "
        "(default: this interpreter -m server --host 127.0.0.1 --port 0 "
        "--ws-max-size 0 --log-level warning)",
    )
    parser.add_argument(
        "--python2",
        help=f"Python 2.7 interpreter (default: $AUTOBAHN_PYTHON2, {DEFAULT_PYTHON2}, "
        "python2.7 on PATH)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_WSTEST_TIMEOUT,
        help="seconds the whole wstest run may take (default: %(default).0f)",
    )
    parser.add_argument(
        "--setup-only", action="store_true", help="install the test suite and exit"
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="stream wstest output")
    return parser.parse_args(argv)


def server_command(args: argparse.Namespace) -> list[str]:
    """The server command line: --server-cmd, or the project's own server.

    ``--ws-max-size 0`` lifts the message size cap: the 9.* cases send
    messages of up to 16 MiB and must be echoed, not refused.
    """
    if args.server_cmd:
        return shlex.split(args.server_cmd)
    return [
        sys.executable,
        "-m",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ws-max-size",
        "0",
        "--log-level",
        "warning",
    ]


def run(args: argparse.Namespace) -> int:
    """Set up, start the server, fuzz it, report; return the exit status."""
    python2 = find_python2(args.python2)
    if python2 is None:
        raise HarnessError(
            "Python 2.7 not found (autobahntestsuite runs only on Python 2.7). Looked at "
            f"--python2 / $AUTOBAHN_PYTHON2, {DEFAULT_PYTHON2} and python2.7 on PATH; "
            "install it with `pyenv install 2.7.18` or point AUTOBAHN_PYTHON2 at one."
        )
    wstest = ensure_wstest(python2)
    if args.setup_only:
        return EXIT_OK

    with tempfile.TemporaryDirectory(prefix="autobahn-") as tmp:
        workdir = Path(tmp)
        report_dir = workdir / "reports"
        # Logs go straight to the kept report folder, so that the paths named
        # in error messages still exist after the temp dir is removed.
        shutil.rmtree(REPORT_COPY, ignore_errors=True)
        REPORT_COPY.mkdir(parents=True)
        server = Server(server_command(args), REPORT_COPY / "server.log")
        try:
            log(f"starting server: {shlex.join(server.cmd)}")
            port = server.start()
            url = f"ws://127.0.0.1:{port}{WS_PATH}"
            spec = {
                "outdir": str(report_dir),
                "servers": [{"agent": AGENT, "url": url}],
                "cases": list(args.cases),
                "exclude-cases": [],
                "exclude-agent-cases": {},
            }
            spec_path = workdir / "fuzzingclient.json"
            spec_path.write_text(json.dumps(spec, indent=2))
            log(f"running wstest fuzzingclient, cases {' '.join(args.cases)} against {url}")
            started = time.monotonic()
            wstest_run = run_wstest(
                wstest, spec_path, REPORT_COPY / "wstest.log", args.timeout, args.verbose
            )
            elapsed = time.monotonic() - started
            server_exit = server.exit_code()
        finally:
            server.stop()

        if wstest_run.expected_cases is None:
            raise HarnessError(
                "could not read the case list from wstest's output; "
                "cannot tell which results are missing"
            )
        # Keep the HTML/JSON report for inspection; the temp dir goes away.
        if report_dir.is_dir():
            shutil.copytree(report_dir, REPORT_COPY, dirs_exist_ok=True)
        summary = read_summary(REPORT_COPY, wstest_run.expected_cases)

    print_summary(summary, len(wstest_run.expected_cases), url, elapsed)
    log(f"report: {REPORT_COPY.relative_to(REPO_ROOT) / 'index.html'}")
    if server_exit is not None:
        log(f"the server exited during the run (code {server_exit}); see {REPORT_COPY}/server.log")
        return EXIT_FAILED
    return EXIT_OK if summary.ok else EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: map expected failures to messages and exit codes."""
    args = parse_args(argv)
    # A process started in the background by a shell inherits SIGINT as
    # "ignored", and so would the server: our SIGINT could then never stop
    # it.  Installing a handler here means exec() resets SIGINT to its
    # default in every child, and Ctrl+C still reaches this script.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return run(args)
    except HarnessError as exc:
        print(f"[autobahn] error: {exc}", file=sys.stderr, flush=True)
        return EXIT_HARNESS
    except KeyboardInterrupt:
        print("[autobahn] interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
