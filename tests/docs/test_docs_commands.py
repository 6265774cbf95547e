"""The docs are tested: every runnable command in them runs, every link and path exists.

Conventions in README.md and docs/**/*.md (GitHub hides HTML comments, so readers never see
them):

    <!-- runnable -->                  the ```sh block right below is run by this test
    <!-- runnable timeout=30 -->       ... with a longer limit than DEFAULT_TIMEOUT_S
    <!-- runnable server="--ws-heartbeat 2" -->   ... against its own server with these options
                                       (which the step must show the reader, see
                                       `hidden_server_options`)
    <!-- runnable fresh -->            ... against a fresh server of its own, default options
    <!-- not-runnable: why -->         the ```sh block below is not run (interactive, needs a
                                       browser, kills the server); the reason is for readers
    <!-- expect: some text -->         after a runnable block: the output must contain it
    <!-- output -->                    before the first ```text block after a runnable block:
                                       the output must have the same *shape* (see `shape`)

Each block runs with bash in the repository root against a server this test starts on a free
port: `127.0.0.1:8080` in a command becomes the test server's address, `python -m client`
and `python docs/labs/tools/*.py` get `--url` when the command does not give one, and
`python` is this interpreter. A block
passes when it exits 0 within its timeout and its output matches.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import SyncServerProcess, free_port

REPO = Path(__file__).resolve().parents[2]
DOC_FILES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
# Files whose every ```sh block must say whether it runs (habit 7 of shared/STYLE.md).
OWN_DOCS = [
    REPO / "docs" / "index.md",
    REPO / "docs" / "protocols.md",
    *sorted((REPO / "docs" / "labs").glob("[0-9][0-9]-*.md")),
    REPO / "docs" / "labs" / "README.md",
]
DEFAULT_URL = "127.0.0.1:8080"
DEFAULT_TIMEOUT_S = 20.0

RUNNABLE = re.compile(r"^\s*<!--\s*runnable\b(?P<attrs>.*?)-->\s*$")
NOT_RUNNABLE = re.compile(r"^\s*<!--\s*not-runnable:\s*\S.*-->\s*$")
EXPECT = re.compile(r"^\s*<!--\s*expect:\s?(?P<text>.*?)\s*-->\s*$")
OUTPUT = re.compile(r"^\s*<!--\s*output\s*-->\s*$")
FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
SHELL_LANGS = {"sh", "bash", "shell"}


@dataclass(frozen=True, slots=True)
class Block:
    """One runnable shell block of a Markdown file."""

    path: Path
    line: int  # 1-based line of the opening fence
    script: str
    timeout: float = DEFAULT_TIMEOUT_S
    server_args: tuple[str, ...] = ()
    fresh: bool = False
    expects: tuple[str, ...] = ()
    output: str | None = None

    @property
    def id(self) -> str:
        """`docs/labs/01-echo.md:42`, so a failure points at the doc."""
        return f"{self.path.relative_to(REPO)}:{self.line}"


@dataclass(slots=True)
class Fenced:
    """A fenced block: its language, first line (1-based), body, and the line after it."""

    lang: str
    line: int
    body: str
    end: int  # index of the line after the closing fence


def read_fence(lines: list[str], start: int) -> Fenced | None:
    """The fenced block opening at `lines[start]`, or None if that line opens none."""
    opening = FENCE.match(lines[start])
    if opening is None:
        return None
    indent = len(opening["indent"])
    body: list[str] = []
    for index in range(start + 1, len(lines)):
        if lines[index].strip() == "```":
            return Fenced(opening["lang"], start + 1, "\n".join(body) + "\n", index + 1)
        body.append(lines[index][indent:] if lines[index][:indent].isspace() else lines[index])
    raise AssertionError(f"unclosed ``` fence at line {start + 1}")


def parse_attrs(text: str) -> dict[str, str]:
    """`timeout=30 server="--a 1" fresh` -> {"timeout": "30", "server": "--a 1", "fresh": ""}."""
    attrs: dict[str, str] = {}
    for token in shlex.split(text):
        name, sep, value = token.partition("=")
        if (sep, name) != ("", "fresh") and (not sep or name not in ("timeout", "server")):
            raise AssertionError(f"unknown runnable attribute {token!r}")
        attrs[name] = value
    return attrs


def runnable_blocks(path: Path) -> list[Block]:
    """Every block of `path` marked `<!-- runnable -->`, with its expectations."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    for index, line in enumerate(lines):
        marker = RUNNABLE.match(line)
        if marker is None:
            continue
        fenced = read_fence(lines, index + 1) if index + 1 < len(lines) else None
        where = f"{path.relative_to(REPO)}:{index + 1}"
        message = f"{where}: <!-- runnable --> must stand right above a ```sh fence"
        assert fenced is not None, message
        assert fenced.lang in SHELL_LANGS, message
        attrs = parse_attrs(marker["attrs"])
        expects, output = _expectations(lines, fenced.end)
        blocks.append(
            Block(
                path=path,
                line=fenced.line,
                script=fenced.body,
                timeout=float(attrs.get("timeout", DEFAULT_TIMEOUT_S)),
                server_args=tuple(shlex.split(attrs.get("server", ""))),
                fresh="fresh" in attrs,
                expects=tuple(expects),
                output=output,
            )
        )
    return blocks


def _expectations(lines: list[str], start: int) -> tuple[list[str], str | None]:
    """`<!-- expect -->` lines right after a block, and an `<!-- output -->` block after it."""
    expects: list[str] = []
    index = start
    while index < len(lines) and (not lines[index].strip() or EXPECT.match(lines[index])):
        found = EXPECT.match(lines[index])
        if found:
            expects.append(found["text"])
        index += 1
    output_marked = False
    for later in range(index, len(lines)):
        if RUNNABLE.match(lines[later]) or NOT_RUNNABLE.match(lines[later]):
            break
        if OUTPUT.match(lines[later]):
            output_marked = True
        elif FENCE.match(lines[later]):
            fenced = read_fence(lines, later)
            if output_marked and fenced is not None:
                return expects, fenced.body
            break
    return expects, None


ALL_BLOCKS = [block for path in DOC_FILES for block in runnable_blocks(path)]


# ------------------------------------------------------------------ servers and commands


def start_server(args: tuple[str, ...], log_path: Path) -> SyncServerProcess:
    """A `python -m server` process with `args` on a free port, started."""
    server = SyncServerProcess(log_path, list(args))
    server.start()
    return server


def address(server: SyncServerProcess) -> str:
    """`127.0.0.1:<port>`, what replaces `127.0.0.1:8080` in a block."""
    return server.url.removeprefix("http://")


CLIENT_CALL = re.compile(r"\bpython3? (?:-m client|docs/labs/tools/\w+\.py)(?=\s|$)")
COMMAND_END = set("|;&<>)\n")


def add_client_url(script: str, base_url: str) -> str:
    """Give every `python -m client ...` or lab tool command without `--url` the test server's URL.

    The option goes at the end of that simple command (before a pipe, `;`, `&&`, a
    redirection or the end of the line), where argparse accepts it after any subcommand.
    """
    pieces: list[str] = []
    position = 0
    for call in CLIENT_CALL.finditer(script):
        if call.start() < position:
            continue
        end = _command_end(script, call.end())
        arguments = script[call.end() : end]
        if "--url" not in arguments and not re.search(r"--(help|version)\b", arguments):
            pieces.append(script[position:end].rstrip(" ") + f" --url {base_url}")
            position = end
            if end < len(script) and script[end] != " ":
                pieces.append(" ")
    pieces.append(script[position:])
    return "".join(pieces)


def _command_end(script: str, start: int) -> int:
    """Index of the first unquoted character that ends the simple command at `start`."""
    quote = ""
    index = start
    while index < len(script):
        char = script[index]
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "\\" and script[index + 1 : index + 2] == "\n":
            index += 2
            continue
        elif char in COMMAND_END or (char == "#" and script[index - 1].isspace()):
            return index  # an operator, or a comment: the option goes before it
        index += 1
    return index


SECOND_PORT = "8443"  # lab 07's TLS server, which its blocks start themselves
PROXY_PORT = "8081"  # the netem proxy (lab 08, client.md), which blocks start themselves
SCRATCH = "/tmp/"


@dataclass(frozen=True, slots=True)
class Place:
    """Where a block runs: the test server, a free port for a server the block starts, and
    a directory of this test run for the files the block writes to /tmp/ (so that test runs
    side by side, in two clones, share neither a port nor a file)."""

    address: str
    second_port: str
    scratch: str
    proxy_port: str = PROXY_PORT

    def prepare(self, script: str) -> str:
        """The block's script, pointed at this place."""
        script = script.replace(DEFAULT_URL, self.address).replace("localhost:8080", self.address)
        script = script.replace(f":{SECOND_PORT}", f":{self.second_port}")
        script = script.replace(f"127.0.0.1:{PROXY_PORT}", f"127.0.0.1:{self.proxy_port}")
        script = re.sub(rf"--port {SECOND_PORT}\b", f"--port {self.second_port}", script)
        script = script.replace(SCRATCH, self.scratch)
        return add_client_url(script, f"http://{self.address}")

    def as_shown(self, output: str) -> str:
        """The block's output with this place's addresses and paths as the doc shows them."""
        output = output.replace(self.address, DEFAULT_URL).replace(self.scratch, SCRATCH)
        output = output.replace(f"127.0.0.1:{self.proxy_port}", f"127.0.0.1:{PROXY_PORT}")
        return output.replace(f":{self.second_port}", f":{SECOND_PORT}")


def run_script(script: str, timeout: float) -> tuple[int, str]:
    """Run `script` with bash -e in the repository root; (exit status, stdout + stderr).

    It runs in a session of its own, whose processes are all killed afterwards, so
    background jobs (`curl ... &`, a server) cannot outlive the block.
    """
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update({"PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb"})
    with subprocess.Popen(
        ["bash", "-e", "-c", script],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    ) as process:
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process.pid)
            output, _ = process.communicate()
            return -1, f"{output}\n[timed out after {timeout} s]"
        finally:
            _kill_group(process.pid)
    return process.returncode, output


def _kill_group(session: int) -> None:
    """Kill every process of the block's session.

    Not only its process group: `timeout` moves itself and its child into a group of their
    own, and a server started that way must not outlive the block and hold its port.
    """
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # Fields after the ")" that ends the command name: state, ppid, pgrp, session.
            if int(stat.read_text().rsplit(")", 1)[1].split()[3]) == session:
                os.kill(int(stat.parent.name), signal.SIGKILL)


def shape(text: str) -> list[str]:
    """Output with what changes from run to run replaced, line by line.

    Numbers become N, hex dumps HEX, dates DATE and base64 keys B64: the lines, their order
    and every fixed word must match; the values may differ.
    """
    result = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line:
            continue
        line = re.sub(r"^(>>|<<)\s+[0-9a-f]{2}( [0-9a-f]{2})*$", r"\1 HEX", line)
        line = re.sub(r"key=[0-9a-f]{8}", "key=HEX", line)
        line = re.sub(r"Date: [^\\]*", "Date: DATE", line)
        line = re.sub(r"[A-Za-z0-9+/]{22,}={0,2}", "B64", line)
        line = re.sub(r"\d+(\.\d+)?", "N", line)
        result.append(line)
    return result


def written_since(folder: str, since: float) -> dict[Path, str]:
    """The last lines of each file in `folder` written since `since` (time.time()): what a
    failed block's background jobs said, which its own output often filters away."""
    written = {}
    for path in sorted(Path(folder).iterdir()):
        with contextlib.suppress(OSError):
            if path.is_file() and path.stat().st_mtime >= since:
                lines = path.read_text(errors="replace").splitlines()[-30:]
                written[path] = "\n".join(lines)
    return written


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """This run's stand-in for /tmp/, shared by the blocks of a page like /tmp/ would be."""
    return f"{tmp_path_factory.mktemp('scratch')}/"


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SyncServerProcess]:
    """One server for every block that does not ask for options of its own."""
    server = start_server((), tmp_path_factory.mktemp("server") / "server.log")
    yield server
    server.stop()


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.id for block in ALL_BLOCKS])
def test_runnable_block(
    block: Block, shared_server: SyncServerProcess, scratch: str, tmp_path: Path
) -> None:
    """The block exits 0 within its timeout, and prints what the doc says it prints."""
    own = block.server_args or block.fresh
    server = start_server(block.server_args, tmp_path / "server.log") if own else shared_server
    place = Place(address(server), str(free_port()), scratch, str(free_port()))
    started = time.time()
    try:
        status, output = run_script(place.prepare(block.script), block.timeout)
        log = server.log_text()
    finally:
        if server is not shared_server:
            server.stop()
    output = place.as_shown(output)
    context = f"{block.id} exited {status}:\n{block.script}\n--- output ---\n{output}"
    files = "".join(
        f"\n--- {path.name} (written by the block, last lines) ---\n{text}"
        for path, text in written_since(scratch, started).items()
    )
    assert status == 0, f"{context}{files}\n--- server log ---\n{log}"
    for expected in block.expects:
        assert expected in output, f"{context}\n--- missing ---\n{expected}"
    if block.output is not None:
        shown = f"{context}\n--- the doc shows ---\n{block.output}"
        assert shape(output) == shape(block.output), shown


# ------------------------------------------------------------------ the parser's own tests


def test_add_client_url_puts_the_option_at_the_end_of_each_client_command() -> None:
    """The rewrite handles pipes, chains, quotes, comments and an explicit --url."""
    base = "http://127.0.0.1:9"
    script = (
        "python -m client ws 'a#b'   # say hello\n"
        "python -m client ws hello | head -1\n"
        "python -m client http --data 'a | b' && python -m client sse --url X\n"
        "python -m client bench rtt -n 5 > /tmp/out.txt\n"
    )
    assert add_client_url(script, base) == (
        f"python -m client ws 'a#b' --url {base} # say hello\n"
        f"python -m client ws hello --url {base} | head -1\n"
        f"python -m client http --data 'a | b' --url {base} && python -m client sse --url X\n"
        f"python -m client bench rtt -n 5 --url {base} > /tmp/out.txt\n"
    )


def test_shape_ignores_values_but_not_words() -> None:
    """Numbers, hex dumps and keys may differ between runs; words may not."""
    assert shape("<<   81 05 68 65\nid: 12 ts=1764\n") == shape("<<   81 07\nid: 3 ts=9\n")
    assert shape("id: 1\n") != shape("event: 1\n")


def test_blocks_are_found() -> None:
    """The extraction finds blocks at all (a broken regex would silently test nothing)."""
    assert len(ALL_BLOCKS) >= 10


# ------------------------------------------------------------------ links and paths

LINK = re.compile(r"(?<!\!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]]*\]\(([^)\s]+)\)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(
    r"^(?:server|client|static|tests|docs|scripts|benchmarks)/[\w.*{},/-]*(?::\d+)?$"
)


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line outside fenced blocks."""
    in_fence = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip().startswith("```"):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, line


def github_anchors(path: Path) -> set[str]:
    """The `#fragment`s GitHub gives the headings of a Markdown file."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading is None:
            continue
        text = re.sub(r"`|\*\*|\[([^\]]*)\]\([^)]*\)", r"\1", heading[1]).lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def link_problems(path: Path) -> list[str]:
    """Relative links of `path` whose file (or heading anchor) does not exist."""
    problems = []
    for number, line in prose_lines(path):
        for match in LINK.finditer(line):
            target = match[1] or match[2]
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("//"):
                continue  # http:, https:, mailto: ...
            file_part, _, anchor = target.partition("#")
            resolved = (path.parent / file_part).resolve() if file_part else path
            where = f"{path.relative_to(REPO)}:{number}"
            if not resolved.exists():
                problems.append(f"{where}: {target} does not exist")
            elif anchor and resolved.suffix == ".md" and anchor not in github_anchors(resolved):
                problems.append(f"{where}: {target}: no heading makes #{anchor}")
    return problems


def expand_braces(text: str) -> list[str]:
    """`a/{b,c}.py` -> [`a/b.py`, `a/c.py`]."""
    found = re.search(r"\{([^{}]*)\}", text)
    if found is None:
        return [text]
    return [
        expanded
        for choice in found[1].split(",")
        for expanded in expand_braces(text[: found.start()] + choice + text[found.end() :])
    ]


def path_problems(path: Path) -> list[str]:
    """Repository paths cited in backticks in `path` that do not exist."""
    problems = []
    for number, line in prose_lines(path):
        for match in INLINE_CODE.finditer(line):
            cited = match[1]
            if not REPO_PATH.match(cited):
                continue
            cited, _, line_number = cited.partition(":")
            for candidate in expand_braces(cited):
                hits = glob.glob(str(REPO / candidate))
                where = f"{path.relative_to(REPO)}:{number}"
                if not hits:
                    problems.append(f"{where}: `{candidate}` does not exist")
                elif line_number and len(Path(hits[0]).read_text().splitlines()) < int(
                    line_number
                ):
                    problems.append(f"{where}: `{candidate}` has no line {line_number}")
    return problems


@pytest.mark.parametrize("path", DOC_FILES, ids=[str(p.relative_to(REPO)) for p in DOC_FILES])
def test_relative_links_resolve(path: Path) -> None:
    """Every relative link points at a file that exists (and a heading, with #anchor)."""
    assert link_problems(path) == []


@pytest.mark.parametrize("path", DOC_FILES, ids=[str(p.relative_to(REPO)) for p in DOC_FILES])
def test_cited_paths_exist(path: Path) -> None:
    """Every repository path cited in backticks, like `server/handlers/ws.py`, exists."""
    assert path_problems(path) == []


HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s")
MAKE_RUN_ARGS = re.compile(r"make run ARGS=\"([^\"]*)\"")
LABS = REPO / "docs" / "labs"


def visible_section(document: str, block_line: int) -> str:
    """The text a reader sees from the heading above the block at `block_line` down to it."""
    lines = document.splitlines()[: block_line - 1]
    start = max((i for i, line in enumerate(lines) if HEADING.match(line)), default=0)
    return HTML_COMMENT.sub("", "\n".join(lines[start:]))


def hidden_server_options(block: Block, document: str | None = None) -> str | None:
    """What is wrong when a block's own server options are not shown to the reader, or None.

    A block marked `server="..."` runs against a server started with those options; a
    reader who types the step must start the same server, so the step (the text from its
    heading down to the block) must show them: in the labs as `make run ARGS="..."` (the
    terminal-1 command, which has the virtualenv), elsewhere at least as text.
    """
    if not block.server_args:
        return None
    if document is None:
        document = block.path.read_text(encoding="utf-8")
    section = visible_section(document, block.line)
    if block.path.is_relative_to(LABS):
        shown = [shlex.split(args) for args in MAKE_RUN_ARGS.findall(section)]
        if any(_has_options(args, block.server_args) for args in shown):
            return None
        wanted = f'make run ARGS="{shlex.join(block.server_args)}"'
    else:
        if " ".join(block.server_args) in " ".join(section.split()):
            return None
        wanted = shlex.join(block.server_args)
    return f"{block.id}: its server options are hidden from the reader; show `{wanted}`"


def _has_options(shown: list[str], needed: tuple[str, ...]) -> bool:
    """Whether every option of `needed`, with its value if it has one, is among `shown`."""
    pairs = {tuple(shown[i : i + 2]) for i in range(len(shown))} | {(arg,) for arg in shown}
    index = 0
    while index < len(needed):
        has_value = index + 1 < len(needed) and not needed[index + 1].startswith("--")
        if tuple(needed[index : index + (2 if has_value else 1)]) not in pairs:
            return False
        index += 2 if has_value else 1
    return True


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.id for block in ALL_BLOCKS])
def test_server_options_are_shown_to_the_reader(block: Block) -> None:
    """A step that needs a server with options shows the command that starts it."""
    assert hidden_server_options(block) is None


def test_hidden_server_options_are_caught() -> None:
    """The rule fails a lab step whose options exist only in the hidden marker."""
    marker = '<!-- runnable server="--allowed-origins http://lab.example" -->\n```sh\ntrue\n```\n'
    step = "### 6. A step\n\nRestart with {command}.\n\n" + marker
    block = Block(
        path=LABS / "99-made-up.md",
        line=6,
        script="true\n",
        server_args=("--allowed-origins", "http://lab.example"),
    )
    assert hidden_server_options(block, step.format(command="`make run`")) is not None
    wrong_value = 'make run ARGS="--allowed-origins http://evil.example"'
    assert hidden_server_options(block, step.format(command=wrong_value)) is not None
    shown = 'make run ARGS="--room-rate 0 --allowed-origins http://lab.example"'
    assert hidden_server_options(block, step.format(command=shown)) is None


LAB_SERVER_COMMAND = re.compile(r"(?<![\w-])python3? -m server\b")


def test_labs_start_the_server_with_make_run() -> None:
    """Terminal-1 commands in the labs use `make run ARGS=...`: a fresh terminal has no venv."""
    problems = []
    for path in sorted(LABS.glob("[0-9][0-9]-*.md")):
        lines = path.read_text(encoding="utf-8").splitlines()
        runnable_lines: set[int] = set()
        for block in runnable_blocks(path):
            runnable_lines.update(range(block.line, block.line + block.script.count("\n") + 1))
        for number, line in enumerate(lines, start=1):
            if number not in runnable_lines and LAB_SERVER_COMMAND.search(line):
                problems.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert problems == []


@pytest.mark.parametrize(
    "path", sorted(LABS.glob("0[1-7]-*.md")), ids=lambda p: str(p.relative_to(REPO))
)
def test_extend_it_says_how_to_run_one_test(path: Path) -> None:
    """Each lab's "Extend it" gives the fast path to run a test (`make test` lints and
    installs system packages first; `make run` has no pytest)."""
    text = path.read_text(encoding="utf-8")
    assert "## Extend it" in text
    assert 'make unit ARGS="tests/' in text.split("## Extend it", 1)[1]


@pytest.mark.parametrize(
    "path", [p for p in OWN_DOCS if p.exists()], ids=lambda p: str(p.relative_to(REPO))
)
def test_every_shell_block_says_whether_it_runs(path: Path) -> None:
    """Each ```sh block is marked runnable, or not-runnable with a reason."""
    lines = path.read_text(encoding="utf-8").splitlines()
    unmarked = []
    index = 0
    while index < len(lines):
        fenced = read_fence(lines, index) if FENCE.match(lines[index]) else None
        if fenced is None:
            index += 1
            continue
        before = lines[index - 1] if index else ""
        marked = RUNNABLE.match(before) or NOT_RUNNABLE.match(before)
        if fenced.lang in SHELL_LANGS and not marked:
            unmarked.append(f"{path.relative_to(REPO)}:{fenced.line}")
        index = fenced.end
    assert unmarked == []
