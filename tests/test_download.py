"""`data download`: resumable HTTP fetch (Range), sha256 verification, atomic unpacking, manual-only datasets."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import threading
import zipfile
from pathlib import Path

import pytest

from blurbench.datamodules.catalog import get_checker
from blurbench.datamodules.download import DownloadSpec, Source, download, unpack
from blurbench.downloads import fetch
from blurbench.errors import DataError

from . import dataset_trees as trees
from .conftest import run_cli


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    cut_next: list[int] = []  # bytes to send before dropping the connection, for the next request
    ignore_range = False  # behave like a server without Range support (answers 200 with the whole file)
    log: list[tuple[str, str | None, int]] = []

    def do_GET(self):  # noqa: N802 - http.server API
        data = self.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        start, status = 0, 200
        rng = None if self.ignore_range else self.headers.get("Range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            if start >= len(data):
                self.send_error(416)
                return
            status = 206
        body = data[start:]
        self.log.append((self.path, rng, status))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if self.cut_next:
            body = body[: self.cut_next.pop()]
        self.wfile.write(body)
        self.wfile.flush()

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def server():
    _Handler.files, _Handler.cut_next, _Handler.log, _Handler.ignore_range = {}, [], [], False
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler
    httpd.shutdown()
    httpd.server_close()


def _zip_tree(root: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(root.parent).as_posix())
    return buf.getvalue()


def test_download_resumes_verifies_and_unpacks(tmp_path, server):
    url, handler = server
    tree = trees.gopro(tmp_path / "src")
    blob = _zip_tree(tree.root)
    handler.files["/GOPRO_Large.zip"] = blob
    digest = hashlib.sha256(blob).hexdigest()
    spec = DownloadSpec("gopro", sources=(Source(f"{url}/GOPRO_Large.zip", digest),))
    dest = tmp_path / "data"

    handler.cut_next.append(len(blob) // 3)  # the first connection drops a third of the way through
    with pytest.raises(DataError, match="run the same command again to resume"):
        download(spec, dest, log=lambda m: None)
    part = dest / ".blurbench-downloads" / "GOPRO_Large.zip.part"
    assert part.stat().st_size == len(blob) // 3
    assert not (dest / "GOPRO_Large").exists()  # nothing unpacked from a partial file

    download(spec, dest, log=lambda m: None)
    assert handler.log[-1] == ("/GOPRO_Large.zip", f"bytes={len(blob) // 3}-", 206)  # resumed, not restarted
    counts, problems = get_checker("gopro").factory(dest, allow_subset=True).check_all()
    assert problems == [] and counts == {"train": 3, "test": 5}
    assert (dest / "GOPRO_Large/test/GOPR0384_11_00/blur/000002.png").read_bytes() == tree.blurry.read_bytes()
    manifest = json.loads((dest / ".blurbench-downloads" / "manifest.json").read_text())
    assert manifest["GOPRO_Large.zip"]["sha256"] == digest and manifest["GOPRO_Large.zip"]["verified"]
    assert not list(dest.glob(".unpack-*"))

    n = len(handler.log)
    download(spec, dest, log=lambda m: None)  # already there: no request at all
    assert len(handler.log) == n


def test_checksum_mismatch_is_refused(tmp_path, server):
    url, handler = server
    handler.files["/x.zip"] = _zip_tree(trees.hide(tmp_path / "src").root)
    spec = DownloadSpec("hide", sources=(Source(f"{url}/x.zip", "0" * 64),))
    with pytest.raises(DataError, match="does not match the expected 0000"):
        download(spec, tmp_path / "data", log=lambda m: None)
    assert not (tmp_path / "data" / "HIDE_dataset").exists()
    assert not list((tmp_path / "data" / ".blurbench-downloads").glob("x.zip*"))  # partial file deleted


def test_server_ignoring_range_restarts_cleanly(tmp_path, server):
    url, handler = server
    handler.files["/f.bin"] = payload = bytes(range(256)) * 40
    handler.ignore_range = True
    dest = tmp_path / "f.bin"
    dest.with_name("f.bin.part").write_bytes(b"stale bytes")  # would corrupt the file if appended to
    assert fetch(f"{url}/f.bin", dest) == hashlib.sha256(payload).hexdigest()
    assert dest.read_bytes() == payload and handler.log[-1][2] == 200


def test_unpack_refuses_unsafe_paths(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../evil.txt", "x")
    with pytest.raises(DataError, match="unsafe member path"):
        unpack(bad, tmp_path / "root")
    assert not (tmp_path / "evil.txt").exists()


def test_unpack_merges_archives_sharing_a_top_folder(tmp_path):
    for name, member in (("a.zip", "REDS/train/train_blur/000/00000000.png"),
                         ("b.zip", "REDS/train/train_sharp/000/00000000.png")):
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            zf.writestr(member, name)
        unpack(tmp_path / name, tmp_path / "root")
    assert (tmp_path / "root/REDS/train/train_blur/000/00000000.png").read_text() == "a.zip"
    assert (tmp_path / "root/REDS/train/train_sharp/000/00000000.png").read_text() == "b.zip"


def test_cli_download_manual_dataset_exits_2_with_one_line(tmp_path):
    result = run_cli("data", "download", "kohler", "--root", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot be downloaded automatically" in lines[0]
    assert "webdav.tuebingen.mpg.de" in lines[0]
