"""A do-nothing HTTP/1.1 server: the load generator's own ceiling, and its test double.

Every request gets `201` and a tiny JSON body over a kept-alive connection, so
a run against it measures the client, not a server. `python -m bench.stub
--port P` serves until killed; `serve(port)` is the coroutine.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

BODY = b'{"id": "stub", "totalResults": 1}'
RESPONSE = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(BODY), BODY)
)


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            writer.write(RESPONSE)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int, on_ready: Callable[[], object] | None = None) -> None:
    server = await asyncio.start_server(_answer, "127.0.0.1", port)
    if on_ready is not None:
        on_ready()
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stub")
    parser.add_argument("--port", type=int, required=True)
    print('{"ready": true, "seed_seconds": 0}', flush=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
