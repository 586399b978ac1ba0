"""download_file / download_oxford_pet against a local HTTP server (never the internet)."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from engine.data.download import (
    DownloadError,
    Resource,
    download_file,
    download_oxford_pet,
    oxford_pet_resources,
    safe_extract,
)
from engine.data.layout import PetLayout
from engine.errors import DatasetError, PetsegError


class _Server:
    """Serves ``files`` (path -> bytes); honours Range unless ``ignore_range``; logs requests."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.ignore_range = False
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                body = server.files.get(self.path)
                rng = self.headers.get("Range")
                entry = {"path": self.path, "range": rng, "sent": 0}
                server.requests.append(entry)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(body):
                        self.send_error(416, "Range Not Satisfiable")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                chunk = body[start:]
                self.send_header("Content-Length", str(len(chunk)))
                self.end_headers()
                # logged before the write: the client can have read every byte (and the test
                # checked the log) before this thread returns from write() to log it
                entry["sent"] = len(chunk)
                self.wfile.write(chunk)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def _md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _png(arr: np.ndarray, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def test_full_download_and_md5(server, tmp_path):
    data = np.random.default_rng(0).bytes(300_000)
    server.files["/f.bin"] = data
    dest = download_file(f"{server.base}/f.bin", tmp_path / "f.bin", _md5(data), progress=False)
    assert dest.read_bytes() == data
    assert not (tmp_path / "f.bin.part").exists()
    assert server.requests[0]["range"] is None
    # already there with the right md5: no second request
    download_file(f"{server.base}/f.bin", dest, _md5(data), progress=False)
    assert len(server.requests) == 1


def test_resume_sends_range_and_only_fetches_the_rest(server, tmp_path):
    data = np.random.default_rng(1).bytes(200_000)
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data[:120_000])
    dest = download_file(f"{server.base}/f.bin", tmp_path / "f.bin", _md5(data), progress=True)
    assert dest.read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=120000-"
    assert server.requests[-1]["sent"] == 80_000


def test_server_ignoring_range_restarts_cleanly(server, tmp_path):
    data = np.random.default_rng(2).bytes(50_000)
    server.files["/f.bin"] = data
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"garbage-prefix-" * 100)
    dest = download_file(f"{server.base}/f.bin", tmp_path / "f.bin", _md5(data), progress=False)
    assert dest.read_bytes() == data  # not garbage + data
    assert server.requests[-1]["range"] is not None and server.requests[-1]["sent"] == len(data)


def test_md5_mismatch_deletes_and_raises_one_line(server, tmp_path):
    server.files["/f.bin"] = b"x" * 1000
    url = f"{server.base}/f.bin"
    with pytest.raises(DownloadError) as e:
        download_file(url, tmp_path / "f.bin", "0" * 32, progress=False)
    msg = str(e.value)
    assert isinstance(e.value, PetsegError) and "\n" not in msg
    assert url in msg and "checksum mismatch" in msg
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "f.bin.part").exists()


def test_404_names_the_url(server, tmp_path):
    url = f"{server.base}/missing.tar.gz"
    with pytest.raises(DownloadError) as e:
        download_file(url, tmp_path / "m.tar.gz", None, progress=False)
    assert str(e.value).startswith(url) and "HTTP 404" in str(e.value) and "\n" not in str(e.value)


def test_connection_refused_names_the_url(tmp_path):
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    url = f"http://127.0.0.1:{port}/x"
    with pytest.raises(DownloadError) as e:
        download_file(url, tmp_path / "x", None, progress=False, timeout=5)
    assert url in str(e.value) and "network error" in str(e.value)


def test_every_url_tried_is_named_with_why_it_failed(server, tmp_path):
    """Offline, the official host then the mirror fail: the error named only the mirror (the last
    URL tried). Now one line names each URL in the order tried, with its own reason."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    closed = f"http://127.0.0.1:{s.getsockname()[1]}/pets/images.tar.gz"
    s.close()  # nothing listens there now: connection refused
    mirror = f"{server.base}/gone/images.tar.gz"  # 404
    resources = [Resource("images.tar.gz", (closed, mirror), None)]
    with pytest.raises(DownloadError) as e:
        download_oxford_pet(tmp_path / "pets", resources=resources, progress=False)
    message = str(e.value)
    assert message.startswith(f"{closed}: network error (")
    assert f"; then {mirror}: HTTP 404" in message
    assert "\n" not in message
    assert not (tmp_path / "pets").exists()  # nothing fetched: no empty folder left


def test_a_failed_download_leaves_none_of_the_folders_it_made(server, tmp_path):
    """``--download --data ~/datasets/pets`` offline, ~/datasets new too: only pets/ was removed,
    and an empty datasets/ was left behind. Every folder the download made goes, as `petseg infer`'s
    output folders do (`engine.made_folders`); one that was there before stays."""
    resources = [Resource("images.tar.gz", (f"{server.base}/gone/images.tar.gz",), None)]  # 404
    with pytest.raises(DownloadError):
        download_oxford_pet(tmp_path / "datasets" / "pets", resources=resources, progress=False)
    assert sorted(tmp_path.iterdir()) == []


def test_download_oxford_pet_extracts_a_usable_layout(server, tmp_path):
    tri = np.full((12, 16), 2, np.uint8)
    tri[3:9, 4:12] = 1
    images = _tar_gz(
        {f"images/{n}.jpg": _png(np.zeros((12, 16, 3), np.uint8), "JPEG") for n in ("Cat_1", "dog_2")}
    )
    annotations = _tar_gz(
        {
            "annotations/trimaps/Cat_1.png": _png(tri),
            "annotations/trimaps/dog_2.png": _png(tri),
            "annotations/trainval.txt": b"Cat_1 1 1 1\n",
            "annotations/test.txt": b"dog_2 2 2 1\n",
        }
    )
    server.files["/pets/images.tar.gz"] = images
    server.files["/pets/annotations.tar.gz"] = annotations
    resources = [
        # first URL 404s: the mirror must be tried next
        Resource("images.tar.gz", (f"{server.base}/gone/images.tar.gz", f"{server.base}/pets/images.tar.gz"), _md5(images)),
        Resource("annotations.tar.gz", (f"{server.base}/pets/annotations.tar.gz",), _md5(annotations)),
    ]
    root = download_oxford_pet(tmp_path / "pets", resources=resources, progress=False)
    lay = PetLayout(root)
    assert lay.trainval_names() == ["Cat_1"] and lay.test_names() == ["dog_2"]
    assert not (root / "images.tar.gz").exists()  # archives removed after extraction
    n = len(server.requests)
    download_oxford_pet(tmp_path / "pets", resources=resources, progress=False)
    assert len(server.requests) == n  # already extracted: nothing fetched


def test_path_traversal_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(_tar_gz({"images/ok.jpg": b"x", "../escape.txt": b"x"}))
    with pytest.raises(DatasetError) as e:
        safe_extract(archive, tmp_path / "out")
    assert "unsafe path" in str(e.value)
    assert not (tmp_path / "escape.txt").exists()


def test_official_resources_follow_torchvision():
    from torchvision.datasets import OxfordIIITPet

    res = {r.filename: r for r in oxford_pet_resources()}
    assert set(res) == {"images.tar.gz", "annotations.tar.gz"}
    assert res["images.tar.gz"].urls[0] == "https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz"
    assert {r.md5 for r in res.values()} == {md5 for _, md5 in OxfordIIITPet._RESOURCES}


def test_wrong_resume_offset_is_refused(tmp_path):
    """A 206 whose Content-Range starts elsewhere must not be appended to the partial file."""

    class FakeResponse:
        status = 206
        headers = {"Content-Range": "bytes 0-9/10", "Content-Length": "10"}

        def read(self, n=-1):
            return b""

        def close(self):
            pass

    (tmp_path / "f.part").write_bytes(b"12345")
    with pytest.raises(DownloadError) as e:
        download_file("http://example.invalid/f", tmp_path / "f", None, opener=lambda req, timeout: FakeResponse(), progress=False)
    assert "wrong offset" in str(e.value) and not (tmp_path / "f.part").exists()
