"""A small HTTP/1.1 client on asyncio streams: the load generator's transport.

httpx spends ~2 ms of CPU a request and its pool slows down as connections grow,
so under a paced load that the server falls behind on, the client became the
bottleneck and measured itself. This one does only what the benchmarks send:
keep-alive connections to one host, a JSON or empty body, answers with a
Content-Length or chunked. Both sides of every comparison use it.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class HttpError(Exception):
    """A request that got no (complete) answer; `kind` names why."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass
class Response:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    content: bytes = b""

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunks.append(await reader.readexactly(size + 2))
            if size == 0:
                return b"".join(chunk[:-2] for chunk in chunks)
    return await reader.readexactly(int(headers.get("content-length", "0")))


async def _read_response(status_line: bytes, reader: asyncio.StreamReader) -> Response:
    rest = b"" if status_line.endswith(b"\r\n\r\n") else await reader.readuntil(b"\r\n\r\n")
    head = (status_line + rest).decode("latin-1").split("\r\n")
    status = int(head[0].split(" ", 2)[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return Response(status, headers, await _read_body(reader, headers))


class _ClosedBeforeAnswering(Exception):
    """The connection ended before the first byte of an answer."""


async def _status_line(reader: asyncio.StreamReader) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            raise _ClosedBeforeAnswering from None
        raise
    except ConnectionResetError:
        raise _ClosedBeforeAnswering from None


class Client:
    """Keep-alive connections to the host of `base_url`, at most `max_connections` open."""

    def __init__(
        self, headers: Mapping[str, str], max_connections: int, timeout: float = 60.0
    ) -> None:
        self._headers = dict(headers)
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, int], list[Stream]] = {}
        self._open: set[asyncio.StreamWriter] = set()
        self._timeout = timeout

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
    ) -> Response:
        parts = urlsplit(url)
        address = (parts.hostname or "127.0.0.1", parts.port or 80)
        target = parts.path or "/"
        query = "&".join(filter(None, [parts.query, urlencode(params) if params else ""]))
        if query:
            target += "?" + query
        body = b"" if json is None else jsonlib.dumps(json).encode()
        headers = {"Host": parts.netloc, **self._headers, "Content-Length": str(len(body))}
        if json is not None:
            headers.setdefault("Content-Type", "application/json")
        lines = [f"{method} {target} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items())]
        message = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        async with self._slots:
            try:
                return await asyncio.wait_for(self._exchange(address, message), self._timeout)
            except TimeoutError:
                raise HttpError("Timeout") from None

    async def _exchange(self, address: tuple[str, int], message: bytes) -> Response:
        idle = self._idle.setdefault(address, [])
        reused = bool(idle)
        try:
            reader, writer = idle.pop() if idle else await asyncio.open_connection(*address)
        except OSError as exc:
            raise HttpError("ConnectError", str(exc)) from None
        self._open.add(writer)
        try:
            writer.write(message)
            await writer.drain()
            response = await _read_response(await _status_line(reader), reader)
        except _ClosedBeforeAnswering:
            self._close(writer)
            if reused:  # the server had closed the idle connection before reading ours
                return await self._exchange(address, message)
            raise HttpError("ReadError", "closed before answering") from None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self._close(writer)
            raise HttpError("ReadError", str(exc)) from None
        except BaseException:  # a timeout or cancellation mid-answer: the stream is unusable
            self._close(writer)
            raise
        if response.headers.get("connection", "").lower() == "close":
            self._close(writer)
        else:
            idle.append((reader, writer))
        return response

    def _close(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        writer.close()

    async def aclose(self) -> None:
        for writer in list(self._open):
            self._close(writer)
        self._idle.clear()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()
