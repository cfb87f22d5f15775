"""A local stand-in of the Hugging Face hub, enough for the real ``hf_hub_download``.

``HubStub`` serves ``HEAD`` and ``GET`` on ``/{repo_id}/resolve/{revision}/{filename}`` from a
``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port, background thread), so tests exercise the
real huggingface_hub download code (metadata call, cache layout, refs, errors) without internet::

    with HubStub() as hub:
        commit = hub.add_file("org/model", "model.onnx", data)
        path = hf_hub_download(
            "org/model", "model.onnx", revision=commit, cache_dir=tmp_path, endpoint=hub.endpoint
        )
        assert ("GET", f"/org/model/resolve/{commit}/model.onnx") in hub.requests

Each repo is a chain of commits (40-hex hashes, deterministic); ``main`` is the only branch and
points at the latest commit; a revision is ``main`` or a known commit hash, anything else is
"revision not found". The repo id is the part of the path before ``/resolve/``, so a dataset
(``repo_type="dataset"``) is added as ``"datasets/org/name"``. Unknown paths get a plain 404.

What ``hf_hub_download`` needs (huggingface_hub 2.4, ``file_download.py``)
------------------------------------------------------------------------------
* ``HEAD /{repo_id}/resolve/{revision}/{filename}`` (revision URL-quoted with ``safe=""``),
  redirects not followed off the host. From the answer it takes ``X-Repo-Commit`` (required,
  else ``FileMetadataError``), ``X-Linked-Etag`` or ``ETag`` (required; it names the blob in
  ``blobs/``, quotes and ``W/`` stripped), ``X-Linked-Size`` or ``Content-Length`` (the expected
  size; a GET of another length raises ``OSError`` "Consistency check failed"). The stub answers
  200 with ``X-Repo-Commit``, ``ETag: "<sha256 of data>"`` (like an LFS file) and
  ``Content-Length``; no ``X-Linked-*`` headers (those belong to redirects to a CDN).
* Xet: a download goes through ``hf_xet`` only when the HEAD answer carries ``X-Xet-Hash`` and a
  refresh route (``X-Xet-Refresh-Route`` header or a ``Link: <...>; rel="xet-auth"``). The stub
  never sends them, so the plain HTTP ``GET`` path (``http_get``) is used even though ``hf_xet``
  is installed. (``HF_HUB_DISABLE_XET=1`` / ``huggingface_hub.constants.HF_HUB_DISABLE_XET`` also
  turns xet off; the constant is read at import, ``is_xet_available()`` reads the constant at
  call time.) Without xet data the tree-listing cache and shared-blob store are not used either.
* ``GET`` of the same URL (the URL asked for, e.g. with ``main`` in it, not the commit). A
  ``Range: bytes=N-`` header is sent only to resume after a dropped connection; the stub
  supports ``Range`` (206 / 416) anyway.
* Errors come from the ``X-Error-Code`` header (``hf_raise_for_status``): ``RepoNotFound`` →
  ``RepositoryNotFoundError``, ``RevisionNotFound`` → ``RevisionNotFoundError``,
  ``EntryNotFound`` → ``RemoteEntryNotFoundError`` (a subclass of ``HfHubHTTPError`` and of
  ``EntryNotFoundError``; with ``X-Repo-Commit`` it also writes ``.no_exist/<commit>/<file>``).
  A 404 without ``X-Error-Code`` would be taken for "hub unreachable" and end as a
  ``LocalEntryNotFoundError``.
* With ``revision=<40-hex commit>`` and the file already in ``snapshots/<commit>/``,
  ``hf_hub_download`` returns the cached path before any request. With a branch (``main``) it
  always makes a HEAD (but no GET when the blob is cached).

Pointing huggingface_hub at the stub
------------------------------------
* Pass ``endpoint=hub.endpoint`` to ``hf_hub_download``: always works.
* ``HF_ENDPOINT`` is read once, at import, into ``huggingface_hub.constants.ENDPOINT`` and
  ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (``hf_hub_url`` formats the template and only swaps
  the prefix ``constants.ENDPOINT`` for an explicit ``endpoint=``). Setting the env var after
  import does nothing (it works in a subprocess started with it). Monkeypatching
  ``constants.ENDPOINT`` alone is worse than nothing: the URL still comes from the template and
  an explicit ``endpoint=`` is then no longer swapped in. Use ``patch_endpoint`` below, which
  patches both constants (and ``HF_ENDPOINT`` for subprocesses).
* Side request: the first request of a process builds a user agent that looks up AI-agent
  harnesses, which fetches ``{constants.ENDPOINT}/api/agent-harnesses`` once per process
  (3 s timeout, result cached in ``HF_HOME/.agent_harnesses.json``) unless telemetry is off
  (``constants.HF_HUB_DISABLE_TELEMETRY``, from ``HF_HUB_DISABLE_TELEMETRY`` /
  ``DISABLE_TELEMETRY`` / ``DO_NOT_TRACK`` at import) or offline mode is on. With
  ``patch_endpoint`` that request reaches the stub (404, recorded in ``requests``).

Offline mode
------------
``constants.HF_HUB_OFFLINE`` is computed once, at import, from ``HF_HUB_OFFLINE`` (or
``TRANSFORMERS_OFFLINE``); ``huggingface_hub.is_offline_mode()`` returns that constant, and the
HTTP event hook (``utils/_http.py``) checks ``constants.is_offline_mode()`` before every request
and raises ``OfflineModeIsEnabled`` without touching the network. So changing the env var after
import has no effect; tests monkeypatch ``huggingface_hub.constants.HF_HUB_OFFLINE = True``.
Offline, ``hf_hub_download`` returns the cached file (by commit, or by the ``refs/<branch>``
file) and otherwise raises ``LocalEntryNotFoundError``; it never sends a request.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


@dataclass(frozen=True)
class StubFile:
    """A file at a commit: ``etag`` = sha256 of the true data, ``served`` = what GET sends."""

    served: bytes
    etag: str


@dataclass
class _Repo:
    commits: dict[str, dict[str, StubFile]] = field(default_factory=dict)
    head: str | None = None  # the commit "main" points to


class HubStub:
    """A Hugging Face hub on 127.0.0.1 serving the files given to ``add_file``.

    Use as a context manager; ``endpoint`` is valid inside it. ``requests`` lists every request
    received as ``(method, path)``, the path URL-decoded and without query string, e.g.
    ``("HEAD", "/org/model/resolve/main/model.onnx")``.
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        #: When set, every GET body stops after this many bytes (the connection is dropped
        #: with ``Content-Length`` still promising the whole file): an interrupted download.
        self.cut_body_at: int | None = None
        self._repos: dict[str, _Repo] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- content ----------------------------------------------------------------------------

    def add_file(
        self,
        repo_id: str,
        filename: str,
        data: bytes,
        revision: str | None = None,
        *,
        served_data: bytes | None = None,
    ) -> str:
        """Store ``data`` as ``filename`` of ``repo_id`` and return the commit hash holding it.

        Without ``revision`` a new commit is made on top of the repo's latest one (keeping its
        files), with a hash derived from repo, parent, filename and data (deterministic). With
        a 40-hex ``revision`` the file is added to that commit (made on top of the latest one
        if new). Either way ``main`` then points at that commit.

        ``served_data`` (tampering): the hub still announces ``data`` (ETag = its sha256) but
        GET sends ``served_data`` (and ``Content-Length`` is that of ``served_data``, so the
        download itself succeeds), like a corrupted mirror.
        """
        if revision is not None and not COMMIT_RE.fullmatch(revision):
            raise ValueError(f"revision must be a 40-hex commit hash, got {revision!r}")
        etag = hashlib.sha256(data).hexdigest()
        entry = StubFile(served=data if served_data is None else served_data, etag=etag)
        with self._lock:
            repo = self._repos.setdefault(repo_id, _Repo())
            parent = repo.head
            if revision is None:
                seed = f"{repo_id}\0{parent}\0{filename}\0{etag}".encode()
                revision = hashlib.sha1(seed).hexdigest()
            if revision not in repo.commits:
                repo.commits[revision] = dict(repo.commits[parent]) if parent else {}
            repo.commits[revision][filename] = entry
            repo.head = revision
        return revision

    def head(self, repo_id: str) -> str:
        """The commit ``main`` points to."""
        head = self._repos[repo_id].head
        assert head is not None
        return head

    def url(self, repo_id: str, filename: str, revision: str = "main") -> str:
        """The resolve URL of a file, as ``hf_hub_url`` builds it."""
        return f"{self.endpoint}{self.path(repo_id, filename, revision)}"

    @staticmethod
    def path(repo_id: str, filename: str, revision: str = "main") -> str:
        """The (decoded) request path recorded in ``requests`` for a file."""
        return f"/{repo_id}/resolve/{revision}/{filename}"

    def count(self, method: str, filename: str | None = None) -> int:
        """How many ``method`` requests were received (for ``filename`` only, if given)."""
        with self._lock:
            return sum(
                1
                for m, p in self.requests
                if m == method and (filename is None or p.endswith(f"/{filename}"))
            )

    # -- server -----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        if self._server is None:
            raise RuntimeError("HubStub is not running: use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubStub:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.stub = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},  # shutdown() waits up to one poll interval
            name="HubStub",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    # -- request handling (called from server threads) --------------------------------------

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def _resolve(self, parts: list[str]) -> tuple[int, dict[str, str], StubFile | None]:
        """Status, extra headers and file for the decoded path segments of a request."""
        if "resolve" not in parts[1:] or len(parts) < parts.index("resolve", 1) + 3:
            return 404, {"X-Error-Message": "Not Found"}, None
        i = parts.index("resolve", 1)
        repo_id, revision, filename = "/".join(parts[:i]), parts[i + 1], "/".join(parts[i + 2 :])
        with self._lock:
            repo = self._repos.get(repo_id)
            if repo is None:
                return 404, _error("RepoNotFound", "Repository not found"), None
            commit = repo.head if revision == "main" else revision
            if commit not in repo.commits:
                return 404, _error("RevisionNotFound", "Invalid rev id: " + revision), None
            entry = repo.commits[commit].get(filename)
        if entry is None:
            headers = _error("EntryNotFound", "Entry not found")
            headers["X-Repo-Commit"] = commit
            return 404, headers, None
        return 200, {"X-Repo-Commit": commit, "ETag": f'"{entry.etag}"'}, entry


def _error(code: str, message: str) -> dict[str, str]:
    return {"X-Error-Code": code, "X-Error-Message": message}


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    stub: HubStub


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no keep-alive thread outlives the stub.
    protocol_version = "HTTP/1.0"
    server: _Server

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _other(self) -> None:
        self.server.stub._record(self.command, unquote(urlsplit(self.path).path))
        self._send(405, {"X-Error-Message": "Method not allowed"}, b"", body=True)

    do_POST = do_PUT = do_DELETE = _other

    def _serve(self, *, body: bool) -> None:
        raw_path = urlsplit(self.path).path
        # Split before decoding: a revision like "refs/pr/1" arrives as one %2F-quoted segment.
        parts = [unquote(p) for p in raw_path.strip("/").split("/")]
        self.server.stub._record(self.command, "/" + "/".join(parts))
        status, headers, entry = self.server.stub._resolve(parts)
        if entry is None:
            message = headers.get("X-Error-Message", "Not Found")
            self._send(status, headers, json.dumps({"error": message}).encode(), body=body)
            return
        data = entry.served
        name = parts[-1]
        headers |= {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "Content-Disposition": f"inline; filename*=UTF-8''{quote(name)}; filename=\"{name}\";",
        }
        range_header = self.headers.get("Range")
        if range_header is not None:
            match = _RANGE_RE.fullmatch(range_header.strip())
            span = _span(match, len(data)) if match else None
            if span is None:
                headers["Content-Range"] = f"bytes */{len(data)}"
                self._send(416, headers, b"", body=body)
                return
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            self._send(206, headers, data[start : end + 1], body=body)
            return
        self._send(200, headers, data, body=body)

    def _send(self, status: int, headers: dict[str, str], payload: bytes, *, body: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Connection", "close")
        self.end_headers()
        cut = self.server.stub.cut_body_at
        if body and cut is not None and self.command == "GET" and payload:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        if body:
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean; see HubStub.requests instead


def _span(match: re.Match[str], size: int) -> tuple[int, int] | None:
    """Inclusive byte span of a ``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` range, or None."""
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    elif last:
        start, end = max(size - int(last), 0), size - 1
    else:
        return None
    if start >= size or start > end:
        return None
    return start, end


def patch_endpoint(monkeypatch: Any, endpoint: str) -> None:
    """Make huggingface_hub default to ``endpoint`` (for code that passes no ``endpoint=``).

    Patches ``constants.ENDPOINT`` and ``constants.HUGGINGFACE_CO_URL_TEMPLATE`` (both read at
    import from ``HF_ENDPOINT``) and sets ``HF_ENDPOINT`` for subprocesses; ``monkeypatch`` (a
    ``pytest.MonkeyPatch``) undoes it all.
    """
    from huggingface_hub import constants

    endpoint = endpoint.rstrip("/")
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        endpoint + "/{repo_id}/resolve/{revision}/{filename}",
    )
