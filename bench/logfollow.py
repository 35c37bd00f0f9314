"""Following a huge console log: oob's release check against `curl | grep`, on one log.

A build server process serves a release build's console log the way Jenkins does
(`logText/progressiveText?start=N`: the rest of the log from byte N, `X-Text-Size`, and
`X-More-Data` while the build runs) over real HTTP, from a file on disk that a writer grows to
`--megabytes`, writing the release line ("Commit status: success : <sha>") near the end.

Two modes, each reader in its own process so that its peak RSS is its own:

* live: the build is still writing; the reader looks as `phases.release_wait` does (one
  `scan_log` per look, from where the last look ended) until it finds the line;
* recovery: the build has written everything (a worker restarted after a crash): one look
  from byte 0 reads the whole log at once.

Readers: `scan` (`JenkinsBuildServer.scan_log`, what the release check calls), `follow`
(`follow_log`, line by line, the pattern searched on each line), `log` (`JenkinsBuildServer.log`,
what the release check read before: the whole chunk as text; only with --with-log, it holds the
log in memory) and `curl | grep -m1`.

Run: .venv/bin/python bench/logfollow.py [--megabytes 1024] [--modes live,recovery]
     [--readers scan,follow,curl] [--with-log]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

PATTERN = r"Commit status: (?P<state>\w+) : (?P<sha>[0-9a-f]{7,40})"
SHA = "4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39"
JOB = "deploys/cms-auto-deploy"
NUMBER = 7
MB = 1 << 20


def _filler(size: int) -> bytes:
    """Lines like a long Jenkins pipeline's: timestamps, steps, compiler and test output."""
    kinds = (
        "[Pipeline] sh",
        "+ ./gradlew :cms:test --tests 'org.example.cms.*' --info",
        "INFO  o.e.c.publish.PublishQueue - item 83121 of 120000 published in 12 ms",
        "WARNING: deprecated API used in org/example/cms/render/Template.java:412",
        "[INFO] Downloading from central: https://repo.maven.apache.org/maven2/x/y/1.0/y.pom",
        "test_render_article_with_embedded_video (cms.tests.RenderTest) ... ok",
    )
    lines = []
    total = 0
    index = 0
    while total < size:
        line = f"{index // 60:02d}:{index % 60:02d}.{index % 997:03d} {kinds[index % 6]}\n"
        lines.append(line)
        total += len(line)
        index += 1
    return "".join(lines).encode()[:size].rsplit(b"\n", 1)[0] + b"\n"


class Log:
    """The build's log file and whether the build still runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.building = True
        self.release_written_at: float | None = None

    def write(self, megabytes: int, *, pace_mb_per_s: float | None) -> None:
        """Grow the log to `megabytes`, the release line at 99 % of it."""
        block = _filler(4 * MB)
        target = megabytes * MB
        release_at = int(target * 0.99)
        started = time.monotonic()
        with self.path.open("ab", buffering=0) as out:
            written = 0
            released = False
            while written < target:
                if not released and written + len(block) > release_at:
                    out.write(f"Commit status: success : {SHA}\n".encode())
                    self.release_written_at = time.time()
                    released = True
                out.write(block)
                written += len(block)
                if pace_mb_per_s:
                    due = started + written / MB / pace_mb_per_s
                    time.sleep(max(0.0, due - time.monotonic()))
        self.building = False


def serve(log: Log) -> ThreadingHTTPServer:
    """A build server answering `progressiveText` as Jenkins does, with sendfile."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlparse(self.path)
            if not url.path.endswith(f"/{NUMBER}/logText/progressiveText"):
                self.send_error(404)
                return
            start = int(parse_qs(url.query).get("start", ["0"])[0])
            building = log.building  # read before the size: a finished build's size is final
            size = log.path.stat().st_size
            start = 0 if start > size else start
            self.send_response(200)
            self.send_header("Content-Type", "text/plain;charset=utf-8")
            self.send_header("Content-Length", str(size - start))
            self.send_header("X-Text-Size", str(size))
            if building:
                self.send_header("X-More-Data", "true")
            self.end_headers()
            self.wfile.flush()
            with log.path.open("rb") as source:
                offset, left = start, size - start
                try:
                    while left > 0:
                        sent = os.sendfile(self.connection.fileno(), source.fileno(), offset, left)
                        if sent == 0:
                            break
                        offset += sent
                        left -= sent
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a reader that found its line closes the connection mid-answer

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# --- the readers, each run in a child process -----------------------------------------------


def read(reader: str, url: str, poll: float) -> dict[str, Any]:
    """Find the release line with `reader`; what it found and how many bytes it read."""
    from oob.adapters.jenkins import JenkinsBuildServer

    begun = time.time()
    slept = 0.0

    def sleep(seconds: float) -> None:
        nonlocal slept
        time.sleep(seconds)
        slept += seconds

    jenkins = JenkinsBuildServer(
        url, "bench", "token", token_env="BENCH", timeout_seconds=60, poll_seconds=poll, sleep=sleep
    )
    regex = re.compile(PATTERN)
    looks = 0
    start = 0
    found: str | None = None
    if reader == "scan":
        while True:
            looks += 1
            scan = jenkins.scan_log(JOB, NUMBER, PATTERN, start)
            if scan.line is not None or not scan.more:
                found = scan.line
                break
            start = scan.next_start
            time.sleep(poll)
            slept += poll
    elif reader == "follow":
        for line in jenkins.follow_log(JOB, NUMBER):
            if regex.search(line):
                found = line
                break
    elif reader == "log":
        while True:
            looks += 1
            chunk = jenkins.log(JOB, NUMBER, start)
            found = next((ln for ln in chunk.text.splitlines() if regex.search(ln)), None)
            if found is not None or not chunk.more:
                break
            start = chunk.next_start
            time.sleep(poll)
            slept += poll
    jenkins.close()
    ended = time.time()
    status = Path("/proc/self/status").read_text()
    hwm = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return {
        "found": found,
        "looks": looks,
        "found_at": ended,
        "seconds": ended - begun - slept,  # reading, not waiting between looks
        "rss_mb": hwm / 1024,
    }


def run_child(reader: str, url: str, poll: float) -> dict[str, Any]:
    """Run one reader in its own process; its result, wall time and peak RSS."""
    started = time.time()
    if reader == "curl":
        # What people type: the whole log at once, the first matching line.
        grep = PATTERN.replace("?P<state>", "").replace("?P<sha>", "")
        log_url = f"{url}job/deploys/job/cms-auto-deploy/{NUMBER}/logText/progressiveText"
        command = f"curl -s '{log_url}?start=0' | grep -m1 -E '{grep}'"
        # /usr/bin/time reports the pipeline's peak RSS (the largest of bash, curl and grep).
        argv = ["/usr/bin/time", "-f", "%M", "-o", "/dev/stderr", "bash", "-c", command]
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    else:
        argv = [sys.executable, __file__, "--child", reader, "--url", url, "--poll", str(poll)]
        child = subprocess.Popen(argv, stdout=subprocess.PIPE)
    assert child.stdout is not None
    out = child.stdout.read().decode()
    _, status, usage = os.wait4(child.pid, 0)
    ended = time.time()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{reader} failed: {out}")
    if reader == "curl":
        assert child.stderr is not None
        kilobytes = int(child.stderr.read().split()[-1])
        result: dict[str, Any] = {
            "found": out.strip() or None,
            "found_at": ended,
            "looks": 1,
            "seconds": ended - started,
            "rss_mb": kilobytes / 1024,
        }
    else:
        # Throughput and RSS as the reader measured them: its reading, not Python's start.
        result = json.loads(out)
    return {**result, "cpu": usage.ru_utime + usage.ru_stime}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--modes", default="live,recovery")
    parser.add_argument("--readers", default="scan,follow,curl")
    parser.add_argument("--with-log", action="store_true", help="also the old whole-chunk read")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between looks (live)")
    parser.add_argument("--pace", type=float, default=200.0, help="live writer MB/s")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(read(args.child, args.url, args.poll)))
        return
    readers = args.readers.split(",") + (["log"] if args.with_log else [])
    print(f"log of {args.megabytes} MB, release line at 99 %; pattern {PATTERN!r}")
    with tempfile.TemporaryDirectory() as scratch:
        for mode in args.modes.split(","):
            for reader in readers:
                if mode == "live" and reader == "curl":
                    continue  # curl reads what is there once; it does not follow a build
                path = Path(scratch) / f"{mode}-{reader}.log"
                path.touch()
                log = Log(path)
                server = serve(log)
                url = f"http://127.0.0.1:{server.server_address[1]}/"
                if mode == "recovery":
                    log.write(args.megabytes, pace_mb_per_s=None)
                    writer = None
                else:
                    writer = threading.Thread(
                        target=log.write,
                        args=(args.megabytes,),
                        kwargs={"pace_mb_per_s": args.pace},
                    )
                    writer.start()
                result = run_child(reader, url, args.poll)
                if writer is not None:
                    writer.join()
                server.shutdown()
                server.server_close()
                size = path.stat().st_size / MB
                path.unlink()
                ok = result["found"] is not None and SHA in result["found"]
                reaction = (
                    f"   found {result['found_at'] - log.release_written_at:5.2f} s after written"
                    if mode == "live" and log.release_written_at
                    else ""
                )
                rate = size * 0.99 / result["seconds"]
                print(
                    f"{mode:8} {reader:7} {'found' if ok else 'MISSED':6} {rate:7.0f} MB/s   "
                    f"peak RSS {result['rss_mb']:5.0f} MB   {result['seconds']:6.2f} s reading   "
                    f"cpu {result['cpu']:5.2f} s   looks {result['looks']}{reaction}"
                )


if __name__ == "__main__":
    main()
