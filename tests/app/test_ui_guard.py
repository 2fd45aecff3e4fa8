"""The served app refuses what a hostile page or visitor could ask: a foreign Host header (DNS rebinding), and
any file of the data folder through Gradio's file route (the history database, song.json, tokens). Kept takes'
audio is served by the app's own route, named song-relative in the API's answers.

The real app runs in this process on a free port; requests go over HTTP with a hand-set Host header.
"""

from __future__ import annotations

import http.client
import socket
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.settings import load_settings
from app.studio.history import NewTake, Song
from app.studio.service import Studio
from app.ui.guard import allowed_hosts

pytestmark = pytest.mark.timeout(180)


@dataclass
class Served:
    port: int
    data: Path
    studio: Studio
    song: Song

    def request(self, method: str, path: str, host: str | None = None) -> tuple[int, bytes]:
        """One request with `host` as the Host header (default: the address the app listens on)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", f"127.0.0.1:{self.port}" if host is None else host)
            conn.endheaders()
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    from app.ui import launch_app

    data = tmp_path_factory.mktemp("guarded") / "data"
    studio = Studio(load_settings(Path("/dev/null"), data_dir=data))
    take = NewTake(np.zeros((2, 4800), np.float32), 48000, 7, np.zeros((4, 8), np.int64))
    song = studio.history.save(title="Vault", description="", lyrics="[verse]\nsecret words", tags="jazz",
                               seconds=0.1, takes=[take])
    port = _free_port()
    demo = launch_app(studio, "127.0.0.1", port, block=False)
    try:
        yield Served(port, data, studio, song)
    finally:
        demo.close()


# --- the Host header ------------------------------------------------------------------------------------------

FOREIGN_HOSTS = [
    "evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}", "localhost.evil.example:{port}",
    "0.0.0.0:{port}", "[::2]:{port}", "192.168.1.23:{port}", "127.0.0.1@evil.example", "", "localhost:{port}.evil",
]
ROUTES = [("GET", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"), ("POST", "/gradio_api/queue/join"),
          ("GET", "/heartsong/live/abc.wav")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_a_foreign_host_header_is_refused(served: Served, host: str, method: str, path: str) -> None:
    status, body = served.request(method, path, host.format(port=served.port))
    assert status == 403 and b"Heartsong" in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost:{port}", "[::1]:{port}",
                                  "127.0.0.1", "localhost"])
def test_the_addresses_it_listens_on_are_answered(served: Served, host: str) -> None:
    status, _ = served.request("GET", "/", host.format(port=served.port))
    assert status == 200


def test_the_hosts_allowed_follow_the_listening_address() -> None:
    loopback = {"127.0.0.1", "localhost", "::1"}
    assert allowed_hosts("127.0.0.1").names == frozenset(loopback)
    assert allowed_hosts("studio.lan").names == frozenset(loopback | {"studio.lan"})
    assert allowed_hosts("192.168.1.5", "music.example, Other.Example ").names == frozenset(
        loopback | {"192.168.1.5", "music.example", "other.example"})
    assert not allowed_hosts("192.168.1.5").allows("10.0.0.7:7860")
    # Listening on every address: any IP literal is fine (a rebinding page has a name), names are not.
    everywhere = allowed_hosts("0.0.0.0")
    assert everywhere.allows("10.0.0.7:7860") and everywhere.allows("[fe80::1]:7860")
    assert everywhere.allows(f"{socket.gethostname()}:7860")
    assert not everywhere.allows("evil.example:7860")


# --- files ---------------------------------------------------------------------------------------------------


def _data_files(served: Served) -> dict[str, str]:
    data, song = str(served.data), served.song.id
    db = f"{data}/history.sqlite3"
    return {
        "database": db,
        "database WAL": f"{db}-wal",
        "song.json": f"{data}/songs/{song}/song.json",
        "tokens": f"{data}/songs/{song}/take-1.npy",
        "take audio, raw": f"{data}/songs/{song}/take-1.flac",
        "dot segments": f"{data}/songs/{song}/../../history.sqlite3",
        "double slash": f"{data}//history.sqlite3",
        "percent-encoded": urllib.parse.quote(db, safe=""),
    }


FILE_CASES = ["database", "database WAL", "song.json", "tokens", "take audio, raw", "dot segments", "double slash",
              "percent-encoded"]  # the keys of _data_files


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("case", FILE_CASES)
def test_no_file_of_the_data_folder_is_served_by_gradio(served: Served, case: str, method: str) -> None:
    path = _data_files(served)[case]
    assert Path(urllib.parse.unquote(path)).exists() or case == "database WAL"
    status, body = served.request(method, f"/gradio_api/file={path}")
    assert status in (403, 404), body[:200]
    assert b"SQLite format" not in body and b"secret words" not in body


def test_kept_takes_are_served_by_the_app_and_named_song_relative(served: Served) -> None:
    from app.ui.api import song_dict

    entry = song_dict(served.song)["takes"][0]
    assert str(served.data) not in repr(song_dict(served.song))
    assert entry["audio"] == "take-1.flac"
    status, body = served.request("GET", "/" + entry["url"])
    assert status == 200 and body[:4] == b"fLaC"
    status, body = served.request("GET", "/" + entry["url"].replace(".flac", ".wav"))
    assert status == 200 and body[:4] == b"RIFF"


@pytest.mark.parametrize("path", [
    "/heartsong/songs/{song}/take-2.flac",  # no such take
    "/heartsong/songs/{song}/take-1.npy",  # tokens are not audio
    "/heartsong/songs/{song}/song.json",
    "/heartsong/songs/..%2F..%2Fhistory.sqlite3/take-1.flac",
    "/heartsong/songs/00000000-000000-abcdef/take-1.flac",  # never kept
])
def test_the_take_route_serves_nothing_else(served: Served, path: str) -> None:
    status, body = served.request("GET", path.format(song=served.song.id))
    assert status == 404 and b"SQLite" not in body
