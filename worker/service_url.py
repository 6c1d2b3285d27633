"""Where the running API really listens, recorded for the commands that print its URLs.

`scimsync api` writes `VAR_DIR/api.json` ({"base_url", "pid"}) when it starts and removes
it when it stops. `scimsync scim enable`, `webhook create-secret` and invitation links
read it, so a service started with `SCIMSYNC_PORT=8123 make up` is announced on 8123
by a command run in another terminal without that variable. `SCIMSYNC_PUBLIC_BASE_URL`
(the address an IdP reaches, behind a proxy) wins over both.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from worker.settings import Settings

FILE_NAME = "api.json"
_WILDCARDS = {"0.0.0.0", "::", ""}  # listening everywhere: reachable here on loopback


def _path(settings: Settings) -> Path:
    return settings.var_dir / FILE_NAME


def listening_url(settings: Settings, port: int | None = None) -> str:
    host = "127.0.0.1" if settings.host in _WILDCARDS else settings.host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port if port is not None else settings.port}"


def record(settings: Settings, port: int | None = None) -> Path:
    """The API's URL and pid, written atomically (a reader never sees half a file)."""
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"base_url": listening_url(settings, port), "pid": os.getpid()}
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(body))
    partial.replace(path)
    return path


def forget(settings: Settings) -> None:
    """Removes the record if it is this process's (another API may have replaced it)."""
    with contextlib.suppress(OSError, ValueError, KeyError):
        if json.loads(_path(settings).read_text())["pid"] == os.getpid():
            _path(settings).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def recorded(settings: Settings) -> str | None:
    """The running API's URL, if one recorded it and still runs."""
    try:
        body = json.loads(_path(settings).read_text())
        url, pid = str(body["base_url"]), int(body["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if _alive(pid) else None


def base_url(settings: Settings) -> str:
    """The URL to print for the service: public > the running API's > the settings'."""
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    return recorded(settings) or settings.base_url
