"""wrk as the load generator for the write-rate scenario, when it is installed.

The asyncio client in bench/loadgen.py spends ~2 ms of CPU per request: on a
2-core machine it tops out near 550 req/s against a server that does nothing, so
it cannot tell apart servers that are faster than half of that. wrk (C, with a
Lua script) costs a few microseconds a request. Both sides get the same bodies:
they are written to a file, one JSON document a line, and each wrk thread sends
its own share of the lines in order; the Lua script counts the answers by status.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.loadgen import LoadResult

RESULT_MARK = "WRK_RESULT "

SCRIPT = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  local line_no = 0
  for line in io.lines(BODIES) do
    if line_no % THREADS == id then bodies[#bodies + 1] = line end
    line_no = line_no + 1
  end
  sent = 0
  counts = {}
end

function request()
  sent = sent + 1
  return wrk.format(METHOD, PATH, HEADERS, bodies[((sent - 1) % #bodies) + 1])
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local statuses = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      statuses[#statuses + 1] = string.format('"%d": %d', status, n)
    end
  end
  local e = summary.errors
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "statuses": [%s], '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}}\n',
    RESULT_MARK, summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), "{" .. table.concat(statuses, "}, {") .. "}",
    e.connect, e.read, e.write, e.timeout))
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string of ASCII text is a valid Lua string literal


def _script(
    workdir: Path, method: str, path: str, headers: Mapping[str, str], threads: int
) -> Path:
    lua_headers = ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    prelude = (
        f"BODIES = {_lua_string(str(workdir / 'bodies.jsonl'))}\n"
        f"THREADS = {threads}\nMETHOD = {_lua_string(method)}\nPATH = {_lua_string(path)}\n"
        f"HEADERS = {{{lua_headers}}}\nRESULT_MARK = {_lua_string(RESULT_MARK)}\n"
    )
    script = workdir / "load.lua"
    script.write_text(prelude + SCRIPT)
    return script


def run(
    url: str,
    bodies: Iterable[dict[str, Any]],
    *,
    workdir: Path,
    seconds: float,
    connections: int,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    threads: int = 2,
) -> LoadResult:
    """POST (or `method`) the bodies to `url` for `seconds` with `connections` open; the
    answers by status, and the elapsed time. Each body is sent once while they last, then
    again from the first: give more than the server can take in `seconds`."""
    workdir.mkdir(parents=True, exist_ok=True)
    written = 0
    with (workdir / "bodies.jsonl").open("w") as out:
        for body in bodies:
            out.write(json.dumps(body, separators=(",", ":")) + "\n")
            written += 1
    if written < threads:
        raise ValueError(f"{written} bodies for {threads} wrk threads: each needs one")
    all_headers = {"Content-Type": "application/scim+json", **(headers or {})}
    script = _script(workdir, method, urlsplit(url).path, all_headers, threads)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "30s"]
    completed = subprocess.run(
        [*argv, "-s", str(script), url], capture_output=True, text=True, check=True
    )
    line = next((ln for ln in completed.stdout.splitlines() if ln.startswith(RESULT_MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result:\n{completed.stdout}\n{completed.stderr}")
    raw = json.loads(line.removeprefix(RESULT_MARK))
    statuses: Counter[int] = Counter()
    for entry in raw["statuses"]:
        for status, count in entry.items():
            statuses[int(status)] += count
    errors = Counter({k: v for k, v in raw["errors"].items() if v})
    return LoadResult(  # wrk reports percentiles, not each request: no latencies here
        elapsed=raw["duration_us"] / 1e6,
        statuses=statuses,
        errors=errors,
        jobs=sum(statuses.values()),
    )
