"""A local fake Hugging Face Hub for tests (threading ``http.server`` on 127.0.0.1).

It answers what ``huggingface_hub`` (2.x) calls, as the real Hub does:

- ``HEAD``/``GET /{repo_id}/resolve/{revision}/{path}``: ``X-Repo-Commit``, ``ETag`` (the sha256 for LFS-like
  files, with ``X-Linked-Etag``/``X-Linked-Size``; a git-style sha1 for small text files), ``Content-Length``,
  ``Accept-Ranges``; ``Range: bytes=a-[b]`` -> 206 + ``Content-Range``; 404 with ``X-Error-Code``
  ``RepoNotFound`` / ``EntryNotFound`` / ``RevisionNotFound``.
- ``POST /api/repos/create`` (409 + url when it exists), ``POST /api/validate-yaml``,
  ``POST /api/models/{repo}/preupload/{rev}`` (every file "regular": no LFS/Xet transfer),
  ``POST /api/models/{repo}/commit/{rev}`` (ndjson, base64 files -> a new commit),
  ``GET /api/models/{repo}[/revision/{rev}]`` (model info with siblings).
- Dataset repos the same way under ``/datasets/{repo}/resolve/...`` and ``/api/datasets/...``; they are stored
  (and named in ``add_file``/``get_file``) as ``datasets/ORG/NAME``.
- ``GET /files/{name}``: plain (non-Hub) file downloads with Range support; ``truncate_first_get`` makes the
  first full GET send only part of the body and close (to test resume).

Every request is recorded in ``hub.requests`` as ``(method, path, range_header)``.

Usage::

    with FakeHub() as hub:
        commit = hub.add_file("org/repo", "weights.pth", data)
        env = hub.env(cache_dir)         # HF_ENDPOINT, HF_HUB_CACHE, ... for a subprocess
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

LFS_MIN_SIZE = 1024  # files at least this large are served like LFS files (ETag = sha256)


class _Repo:
    def __init__(self) -> None:
        self.commits: dict[str, dict[str, bytes]] = {}
        self.branches: dict[str, str] = {}

    def snapshot(self, revision: str) -> tuple[str, dict[str, bytes]] | None:
        commit = self.branches.get(revision, revision)
        if commit in self.commits:
            return commit, self.commits[commit]
        return None


class FakeHub:
    """A bounded in-memory Hub; start with ``with FakeHub() as hub`` (or ``start()``/``stop()``)."""

    def __init__(self) -> None:
        self.repos: dict[str, _Repo] = {}
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.truncate_first_get: dict[str, int] = {}  # /files/{name} -> bytes sent before dropping the connection
        self._lock = threading.Lock()
        self._counter = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------------- content
    def _new_commit(self, seed: str) -> str:
        self._counter += 1
        return hashlib.sha1(f"{seed}:{self._counter}".encode()).hexdigest()

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        """Add/replace ``files`` on ``branch`` in a new commit; returns its 40-hex id."""
        with self._lock:
            repo = self.repos.setdefault(repo_id, _Repo())
            parent = repo.commits.get(repo.branches.get(branch, ""), {})
            commit = self._new_commit(repo_id)
            repo.commits[commit] = {**parent, **files}
            repo.branches[branch] = commit
            return commit

    def add_file(self, repo_id: str, filename: str, data: bytes, branch: str = "main") -> str:
        return self.commit(repo_id, {filename: data}, branch)

    def get_file(self, repo_id: str, filename: str, revision: str = "main") -> bytes:
        snap = self.repos[repo_id].snapshot(revision)
        assert snap is not None
        return snap[1][filename]

    def add_url_file(self, name: str, data: bytes) -> str:
        """Serve ``data`` at ``/files/{name}`` (not a Hub route); returns the URL."""
        self.files[name] = data
        return f"{self.url}/files/{name}"

    # ---------------------------------------------------------------------------------------- lifecycle
    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, hub_cache: str | Path, offline: bool = False) -> dict[str, str]:
        """Environment for a subprocess using this Hub."""
        return {"HF_ENDPOINT": self.url, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1" if offline else "0",
                "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_TOKEN": "fake-token"}

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            pass

        Handler.hub = hub
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _key(repo_type: str, repo_id: str) -> str:
    """Where a repo is stored in ``FakeHub.repos``: model repos by id, dataset repos as ``datasets/ORG/NAME``."""
    return repo_id if repo_type == "models" else f"datasets/{repo_id}"


def _etag(data: bytes) -> tuple[str, bool]:
    if len(data) >= LFS_MIN_SIZE:
        return hashlib.sha256(data).hexdigest(), True
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest(), False


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub
    protocol_version = "HTTP/1.1"
    # dataset repos are stored under "datasets/ORG/NAME", the prefix of their resolve URLs
    _RESOLVE = re.compile(r"^/(?P<repo>(?:datasets/)?[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")
    _API_REPO = re.compile(r"^/api/(?P<type>models|datasets)/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?$")
    _API_OP = re.compile(r"^/api/(?P<type>models|datasets)/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit)/"
                         r"(?P<rev>[^/]+)$")

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    # ---------------------------------------------------------------------------------------- helpers
    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              head: bool = False) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

    def _error(self, status: int, code: str, message: str, head: bool = False,
               extra: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps({"error": message}).encode(),
                   {"X-Error-Code": code, "X-Error-Message": message, "Content-Type": "application/json",
                    **(extra or {})}, head=head)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _record(self) -> str:
        path = unquote(urlsplit(self.path).path)
        with self.hub._lock:
            self.hub.requests.append((self.command, path, self.headers.get("Range")))
        return path

    def _serve_bytes(self, data: bytes, headers: dict[str, str], head: bool, truncate: int | None = None) -> None:
        rng = self.headers.get("Range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
        if m and not head:
            start = int(m.group(1))
            end = int(m.group(2)) if m.group(2) else len(data) - 1
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            part = data[start:end + 1]
            self._send(206, part, {**headers, "Content-Range": f"bytes {start}-{start + len(part) - 1}/{len(data)}"})
            return
        if truncate is not None and not head:
            self.send_response(200)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data[:truncate])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_response(200)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head:
            self.wfile.write(data)

    # ---------------------------------------------------------------------------------------- routes
    def _resolve(self, head: bool) -> None:
        path = self._record()
        if path.startswith("/files/"):
            name = path[len("/files/"):]
            if name not in self.hub.files:
                self._error(404, "EntryNotFound", f"{name} not found", head)
                return
            truncate = None
            with self.hub._lock:
                if not head and not self.headers.get("Range") and name in self.hub.truncate_first_get:
                    truncate = self.hub.truncate_first_get.pop(name)
            self._serve_bytes(self.hub.files[name], {"Accept-Ranges": "bytes",
                                                     "Content-Type": "application/octet-stream"}, head, truncate)
            return
        m = self._RESOLVE.match(path)
        if m is None:
            api = self._API_REPO.match(path)
            if api and not head:
                self._model_info(_key(api.group("type"), api.group("repo")), api.group("rev") or "main")
                return
            self._error(404, "RepoNotFound", f"no route {path}", head)
            return
        repo = self.hub.repos.get(m.group("repo"))
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found", head)
            return
        snap = repo.snapshot(m.group("rev"))
        if snap is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {m.group('rev')}", head)
            return
        commit, files = snap
        if m.group("path") not in files:
            self._error(404, "EntryNotFound", "Entry not found", head, {"X-Repo-Commit": commit})
            return
        data = files[m.group("path")]
        etag, lfs = _etag(data)
        headers = {"X-Repo-Commit": commit, "ETag": f'"{etag}"', "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        self._serve_bytes(data, headers, head)

    def _model_info(self, repo_id: str, rev: str) -> None:
        repo = self.hub.repos.get(repo_id)
        snap = repo.snapshot(rev) if repo else None
        if snap is None:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        commit, files = snap
        self._json(200, {"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                         "siblings": [{"rfilename": f} for f in sorted(files)]})

    def do_HEAD(self) -> None:  # noqa: N802 (http.server API)
        self._resolve(head=True)

    def do_GET(self) -> None:  # noqa: N802
        self._resolve(head=False)

    def do_POST(self) -> None:  # noqa: N802
        path = self._record()
        body = self._body()
        if path == "/api/repos/create":
            req = json.loads(body or b"{}")
            repo_id = f"{req['organization']}/{req['name']}" if req.get("organization") else f"user/{req['name']}"
            url = {"url": f"{self.hub.url}/{repo_id}", "name": repo_id}
            repo_id = _key(f"{req.get('type') or 'model'}s", repo_id)
            with self.hub._lock:
                exists = repo_id in self.hub.repos
                if not exists:
                    repo = self.hub.repos[repo_id] = _Repo()
                    commit = self.hub._new_commit(repo_id)
                    repo.commits[commit] = {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"}
                    repo.branches["main"] = commit
            if exists:
                self._json(409, {**url, "error": "You already created this model repo"})
            else:
                self._json(200, url)
            return
        if path == "/api/validate-yaml":
            self._json(200, {"errors": [], "warnings": []})
            return
        m = self._API_OP.match(path)
        if m is None:
            self._error(404, "RepoNotFound", f"no route {path}")
            return
        repo_id, op = _key(m.group("type"), m.group("repo")), m.group("op")
        if repo_id not in self.hub.repos:
            self._error(404, "RepoNotFound", "Repository not found")
            return
        if op == "preupload":
            files = json.loads(body)["files"]
            self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                        "oid": None} for f in files]})
            return
        lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
        added: dict[str, bytes] = {}
        for item in lines:
            if item["key"] == "file":
                added[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] != "header":
                self._error(400, "BadRequest", f"fake hub: unsupported commit operation {item['key']}")
                return
        commit = self.hub.commit(repo_id, added, branch=unquote(m.group("rev")))
        self._json(200, {"commitUrl": f"{self.hub.url}/{repo_id}/commit/{commit}", "commitOid": commit,
                         "pullRequestUrl": None, "success": True})
