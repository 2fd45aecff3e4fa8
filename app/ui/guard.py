"""What the page's server refuses before Gradio sees a request.

- A `Host` header that names none of the addresses the app listens on. A page on another site can make a
  browser talk to `127.0.0.1` through a name it controls (DNS rebinding); the browser then sends that name as
  the Host, so answering only to our own names closes the door.
- Gradio's file route (`/gradio_api/file=<path>`) pointed into the data folder. The data folder is in Gradio's
  `allowed_paths` only so that a handler may return a take's audio (Gradio copies it into its cache and the
  page reads the copy); nothing in the folder itself (the history database, song.json, tokens) is ever fetched
  directly, so none of it is served. Kept takes are served by the app's own route (`take_route.py`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
WILDCARDS = frozenset({"", "0.0.0.0", "::"})
FILE_ROUTE = "/gradio_api/file="
FOREIGN_HOST = ("Heartsong answers only requests addressed to the host it listens on; this one named another. "
                "Add the name to HEARTSONG_ALLOWED_HOSTS if it is yours.")
PRIVATE_FILE = "Heartsong does not serve this file."
# host, or [IPv6], with an optional port; anything else (user info, spaces, a port with letters) is malformed.
_HOST = re.compile(r"\[(?P<v6>[0-9a-f:.]+)\](?::\d{1,5})?|(?P<name>[a-z0-9._-]+)(?::\d{1,5})?")


def host_name(header: str) -> str | None:
    """The lower-case host of a Host header (no port, no IPv6 brackets), or None when it is malformed."""
    match = _HOST.fullmatch(header.strip().lower())
    if match is None:
        return None
    return match["v6"] or match["name"]


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class AllowedHosts:
    """The host names a request may be addressed to; `any_ip` also lets any IP literal through."""

    names: frozenset[str]
    any_ip: bool = False

    def allows(self, header: str) -> bool:
        name = host_name(header)
        if name is None:
            return False
        # An IP literal cannot be rebound: a hostile page can only reach us by a name it controls.
        return name in self.names or (self.any_ip and _is_ip(name))


def allowed_hosts(listen_host: str, extra: str = "") -> AllowedHosts:
    """The names for an app listening on `listen_host` (the `--host` value), plus `extra` (comma-separated).

    Loopback names always; the listening name or address itself; and when it listens everywhere (0.0.0.0),
    any IP address and this computer's own host names, since the network reaches it by those.
    """
    names = set(LOOPBACK) | {h.strip().lower() for h in extra.split(",") if h.strip()}
    listen = listen_host.strip().strip("[]").lower()
    if listen in WILDCARDS:
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
        return AllowedHosts(frozenset(names), any_ip=True)
    return AllowedHosts(frozenset(names | {listen}))


def _inside(path: Path, folder: Path) -> bool:
    # Compared case-folded, as Gradio compares its blocked paths, so a case-insensitive disk is covered too.
    try:
        Path(str(path).casefold()).relative_to(Path(str(folder).casefold()))
    except ValueError:
        return False
    return True


class RequestGuard:
    """ASGI middleware: refuses foreign Host headers, and Gradio's file route into any of `private_dirs`."""

    def __init__(self, app: ASGIApp, hosts: AllowedHosts, private_dirs: Iterable[Path]) -> None:
        self.app = app
        self.hosts = hosts
        self.private_dirs = tuple(Path(os.path.abspath(d)).resolve() for d in private_dirs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if not self.hosts.allows(Headers(scope=scope).get("host", "")):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await PlainTextResponse(FOREIGN_HOST, status_code=403)(scope, receive, send)
            return
        if scope["type"] == "http" and self._private_file(scope):
            await PlainTextResponse(PRIVATE_FILE, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _private_file(self, scope: Scope) -> bool:
        path: str = scope["path"]
        root = scope.get("root_path") or ""
        if root and path.startswith(root):
            path = path[len(root):]
        if not path.startswith(FILE_ROUTE):
            return False
        # Resolved the way Gradio resolves it (relative to the working folder, links followed).
        target = Path(os.path.abspath(path[len(FILE_ROUTE):])).resolve()
        return any(_inside(target, folder) for folder in self.private_dirs)
