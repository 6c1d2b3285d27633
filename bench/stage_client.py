"""The client side of bench/stages.py: requests handed to uvicorn's HTTP protocol in memory.

No socket: what the profile measures is the server's own work on a request (parsing it
with httptools, the app, writing the answer), not the kernel's.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any


class MemoryTransport(asyncio.Transport):
    """A client connection in memory: hands the request to uvicorn's protocol and
    resolves `waiter` once the whole response has been written."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: Any) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if len(self.buffer) >= head_end + 4 + length:
            body = bytes(self.buffer[head_end + 4 : head_end + 4 + length])
            status = int(head[0].split()[1])
            del self.buffer[: head_end + 4 + length]
            self.waiter.set_result((status, body))
            self.waiter = None

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@dataclass
class Client:
    protocol: Any
    transport: MemoryTransport
    tenant_id: str
    token: str

    async def get(self, path: str) -> tuple[int, Any]:
        """A request outside the SCIM API (`/healthz`): the framework's own cost."""
        return await self._exchange(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())

    async def send(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        payload = json.dumps(body).encode()
        head = (
            f"{method} /scim/v2/{self.tenant_id}{path} HTTP/1.1\r\nHost: bench\r\n"
            f"Authorization: Bearer {self.token}\r\nContent-Type: application/scim+json\r\n"
            f"Content-Length: {len(payload)}\r\n\r\n"
        )
        return await self._exchange(head.encode() + payload)

    async def _exchange(self, raw: bytes) -> tuple[int, Any]:
        waiter = asyncio.get_running_loop().create_future()
        self.transport.waiter = waiter
        self.protocol.data_received(raw)
        status, answer = await waiter
        return status, json.loads(answer) if answer else None
