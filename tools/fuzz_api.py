#!/usr/bin/env python3
"""A fuzzer of Pinnace's API server: odd objects, parameters, paths, sizes; each 5xx, hang or odd error is a finding.

Why: bad input must get a ``metav1.Status`` with a 4xx code that says what is wrong, never a 500, never a hang, never a
crashed server. This tool sends seeded random bad input and records each request that broke that promise, with a
reproducer.

Modes (``--modes``, all by default):

- ``types``: a valid object of each built-in kind (:mod:`fuzz_samples`: ~40 kinds and a custom resource) with one
  field path (inside lists and maps too, or a new unknown key) set to one odd JSON value (:data:`ODD_VALUES`), sent
  as a create, and against a good stored object as an update, a merge patch, a strategic merge patch, server-side
  apply (YAML and JSON) and a JSON patch; to the status and scale subresources where the kind has them.
- ``query``: lists, gets, watches and deletes with one odd query parameter (:data:`QUERY_PARAMS`).
- ``paths``: odd paths (encoded segments, ``..``, long names, unknown groups, wrong subresources), every method,
  odd Content-Type and Accept headers, bodies that are no JSON or YAML, empty bodies, huge headers.
- ``deep``: bodies nested and sized near the limits (nesting 200, 3 MiB bodies, 256 KiB annotations, 1 MiB data).

After every batch the server must still answer ``/readyz``. A finding is a response with a 5xx code, a request that
took longer than 2 s, an error response whose body is no ``Status``, a dead server, or (in-process target) an error
the server logged. The findings are printed with a reproducer at the end; the exit status is 1 when there is one.

Targets: an in-process API server this tool starts itself (SQLite in a temporary directory, upstream's default
admission plugins), or ``--kubeconfig PATH`` for a running cluster (``pinnace up``), whose objects it writes in the
namespace ``--namespace`` (made if missing).

Usage::

    PYTHONPATH=src python tools/fuzz_api.py --seed 1 --seconds 120
    PYTHONPATH=src python tools/fuzz_api.py --seed 7 --budget 20000 --modes types,query --kubeconfig DIR/kubeconfig

The engine (:class:`Fuzzer`, :class:`Target`, :func:`in_process_target`) is importable: the smoke test
``tests/integration/test_fuzz_smoke.py`` runs it with a fixed seed and a small budget.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import http.client
import json
import logging
import random
import socket
import ssl
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fuzz_samples import CR_GROUP, CRD, Obj, Sample, samples

#: A request slower than this (seconds, until the response headers) is a finding.
SLOW = 2.0
#: How long a response may take before the request counts as hung (seconds).
HANG = 30.0
#: Requests between two ``/readyz`` checks.
BATCH = 50
#: A server resident past this (bytes) after a batch is a finding: 14.6 GB after a run once (objects of many
#: keys were stored past etcd's size limit, and the watch cache kept 5000 of their events).
MAX_RESIDENT = 1024 * 2**20


class Raw:
    """A JSON token written as-is into a body (numbers JSON cannot hold in a float, ``NaN``, ``-0``)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"Raw({self.token})"


#: The odd values a field is set to.
ODD_VALUES: list[Any] = [
    None,
    "",
    " ",
    [],
    {},
    0,
    -1,
    -(2**31) - 1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    -(2**63) - 1,
    2**64,
    10**30,
    1e308,
    -1e308,
    -0.0,
    0.5,
    1.5e-300,
    3.0,
    True,
    False,
    "x" * 70000,
    "\u00fc\u6f22\U0001f600\u202e",
    "\x00\x01\x1b[31m\x7f",
    "\ud800",
    "1e999999",
    "-1",
    "0x10",
    "1Ki",
    "NaN",
    "../../etc/passwd",
    "2026-13-45T25:61:00Z",
    "*",
    "true",
    {"a": {"b": [{"c": None}]}},
    [None, "", {}, []],
    [[[[]]]],
    {"$patch": "delete"},
    {"$retainKeys": [1]},
    {"": None},
    Raw("1e999999"),
    Raw("-0"),
    Raw("1" + "0" * 400),
    Raw("NaN"),
    Raw("1.0e-999999"),
]

#: Query parameters and odd values of them.
QUERY_PARAMS: dict[str, list[str]] = {
    "labelSelector": ["", "=", "a in (", "a,,b", "!", "a notin ()", "a==b==c", "x" * 70000, "a=\x00", "a>1", "a in (b"],
    "fieldSelector": ["", "=", "metadata.name", "spec.nodeName!=", "x=y", "metadata.name=a,,", "status.phase==R=="],
    "limit": ["-1", "0", "1", "9223372036854775808", "1e3", "abc", "", "99999999999999999999", "1.5", "+1"],
    "continue": ["", "abc", "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6LTF9", "eyJ", "%%", "e30=", "bnVsbA=="],
    "resourceVersion": ["", "0", "-1", "abc", "9223372036854775807", "9223372036854775808", "1e3", "999999999"],
    "resourceVersionMatch": ["", "Exact", "NotOlderThan", "Bogus"],
    "timeoutSeconds": ["-1", "0", "abc", "9223372036854775808", "1.5", "99999999999"],
    "watch": ["true", "1", "false", "yes", "", "abc"],
    "allowWatchBookmarks": ["true", "abc", ""],
    "sendInitialEvents": ["true", "false", "abc"],
    "dryRun": ["All", "", "bogus", "All,All"],
    "fieldManager": ["", "x" * 200, "\x00", "kubectl"],
    "fieldValidation": ["Strict", "Warn", "Ignore", "", "bogus"],
    "force": ["true", "abc", ""],
    "propagationPolicy": ["Orphan", "Foreground", "Background", "", "bogus"],
    "gracePeriodSeconds": ["-1", "0", "abc", "9223372036854775808", "1.5"],
    "orphanDependents": ["true", "false", "abc"],
    "pretty": ["true", "abc", ""],
    "includeObject": ["None", "Object", "Metadata", "bogus"],
    "export": ["true"],
    "follow": ["true"],
    "container": ["", "nope"],
    "bogus": ["1"],
}

#: Accept headers, odd ones included.
ACCEPTS = [
    "application/json",
    "application/json;as=Table;v=v1;g=meta.k8s.io",
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    "application/json;as=Bogus;v=v1;g=meta.k8s.io",
    "application/vnd.kubernetes.protobuf",
    "application/vnd.kubernetes.protobuf;stream=watch",
    "application/yaml",
    "application/json;charset=utf-8",
    "application/json;charset=latin1",
    "text/html",
    "*/*",
    "application/*",
    "",
    ";;;",
    "application/json;q=abc",
    "application/json;stream=watch",
]

#: Content-Type headers, odd ones included.
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/yaml",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
    "application/apply-patch+cbor",
    "application/vnd.kubernetes.protobuf",
    "application/cbor",
    "text/plain",
    "",
    "application/json;;",
    "multipart/form-data; boundary=x",
]

#: Bodies that are not what they claim to be.
BAD_BODIES: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"null",
    b"1",
    b'"str"',
    b"{}",
    b'{"kind": 1}',
    b'{"apiVersion": [], "kind": {}}',
    b"\xff\xfe\x00\x01",
    b"k8s\x00\n\x02v1\x12\x03Pod",
    b"--- !!python/object:os.system\n",
    b"a: &a [*a]",
    b"a: b\n  c: d",
    b"- - - -",
    b"\x00" * 100,
    b'{"a": 1, "a": 2}',
    b"[" * 300 + b"]" * 300,
    b'{"metadata": {"name": "x"}}' + b" " * 1000 + b"trailing",
    b"\xef\xbb\xbf{}",
    b'{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a\\u0000b"}}',
    b"a: !!binary aGVsbG8=",
    b"a: 1e999999",
    b"? [a, b]\n: c",
    b"!!set {a, b}",
    b"a: .nan",
    b"a: 2026-01-01",
]

#: Methods sent in the ``paths`` mode: any token is a method to Go's server (``get``, ``BREW``), which the API
#: answers with its 404 or 405 Status.
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "get", "BREW"]
#: Pod subresources the ``paths`` mode sends odd requests to.
POD_SUBRESOURCES = ["attach", "portforward", "binding", "eviction", "ephemeralcontainers", "resize", "status", "log"]
#: Errors of the HTTP layer, before the API: answered in plain text by Go's net/http as by aiohttp.
HTTP_LAYER_CODES = frozenset({400, 413, 414, 431})
#: What aiohttp logs for a request its parser refuses (not a bug of the server).
PARSER_LOG = "Error handling request from"


def encode_json(value: Any) -> bytes:
    """``value`` as JSON, with :class:`Raw` tokens written as-is and lone surrogates escaped."""
    raws: list[str] = []

    def swap(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(v.token)
            return f"\x00RAW{len(raws) - 1}\x00"
        if isinstance(v, dict):
            return {k: swap(x) for k, x in v.items()}
        if isinstance(v, list):
            return [swap(x) for x in v]
        return v

    text = json.dumps(swap(value))
    for i, token in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), token)
    return text.encode()


class _YAMLDumper(yaml.SafeDumper):
    """PyYAML's safe dumper that writes :class:`Raw` tokens as floats."""


_YAMLDumper.add_representer(Raw, lambda d, r: d.represent_scalar("tag:yaml.org,2002:float", r.token))


def encode_yaml(value: Any) -> bytes | None:
    """``value`` as YAML (None when YAML cannot say it, e.g. a lone surrogate)."""
    try:
        return yaml.dump(value, Dumper=_YAMLDumper, allow_unicode=True, sort_keys=False).encode()
    except (yaml.YAMLError, UnicodeEncodeError):
        return None


# ---- object paths -------------------------------------------------------------------------------------------


Path_ = tuple[str | int, ...]


def field_paths(obj: Any, prefix: Path_ = ()) -> Iterator[tuple[Path_, bool]]:
    """Every path into ``obj`` (keys and list indices), and for each map a new unknown key; ``(path, is_new)``."""
    if isinstance(obj, dict):
        yield (*prefix, "fuzzUnknown"), True
        for k, v in obj.items():
            yield (*prefix, k), False
            yield from field_paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield (*prefix, i), False
            yield from field_paths(v, (*prefix, i))


def set_path(obj: Any, path: Path_, value: Any) -> Any:
    """A deep copy of ``obj`` with ``value`` at ``path``."""
    out = copy.deepcopy(obj)
    node = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


def merge_patch_for(obj: Obj, path: Path_, value: Any) -> Obj:
    """The smallest merge patch that sets ``path`` to ``value`` (a list on the way is sent whole)."""
    patch: Obj = {}
    node: Obj = patch
    source: Any = obj
    for i, step in enumerate(path):
        rest = path[i + 1 :]
        child = source.get(step) if isinstance(source, dict) else None
        if not rest:
            node[str(step)] = value
            break
        if isinstance(child, list):
            node[str(step)] = set_path(child, rest, value)
            break
        node[str(step)] = {}
        node, source = node[str(step)], child
    return patch


def json_pointer(path: Path_) -> str:
    """The JSON pointer of ``path``."""
    return "".join("/" + str(s).replace("~", "~0").replace("/", "~1") for s in path)


# ---- findings and the target --------------------------------------------------------------------------------


@dataclass
class Request:
    """One HTTP request as sent (the reproducer of a finding)."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def reproducer(self, limit: int = 2000) -> str:
        """A curl-like description of the request, the body cut at ``limit`` bytes."""
        lines = [f"{self.method} {self.path}"] + [f"  {k}: {v[:200]!r}" for k, v in self.headers.items()]
        if self.body is not None:
            shown = self.body[:limit]
            more = f" ... ({len(self.body)} bytes in all)" if len(self.body) > limit else ""
            lines.append(f"  body: {shown!r}{more}")
        return "\n".join(lines)


@dataclass
class Response:
    """What came back: the code, the headers, the body (None on a stream cut short) and the seconds it took."""

    status: int
    headers: dict[str, str]
    body: bytes | None
    seconds: float


@dataclass
class Finding:
    """A request that broke the promise, and why."""

    what: str
    request: Request
    detail: str = ""


class Target:
    """An API server reached over HTTP(S) at ``base_url``: sends raw requests on one kept-alive connection."""

    def __init__(
        self, base_url: str, *, ssl_context: ssl.SSLContext | None = None, headers: dict[str, str] | None = None
    ):
        parsed = urllib.parse.urlsplit(base_url)
        self.scheme, self.host, self.port = parsed.scheme, parsed.hostname or "127.0.0.1", parsed.port
        self.ssl_context = ssl_context
        self.auth_headers = headers or {}
        self._conn: http.client.HTTPConnection | None = None
        #: Errors the server logged (in-process targets only), drained by the fuzzer.
        self.server_errors: list[str] = []
        #: The server's resident memory in bytes, where it can be read (this process's for an in-process one).
        self.resident: Callable[[], int] | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "https":
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=HANG, context=self.ssl_context)
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=HANG)
        return self._conn

    def close(self) -> None:
        """Drop the connection (the next request opens a new one)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def send(self, req: Request) -> Response:
        """Send ``req``; a watch-like stream is read only until its first line. Raises OSError on a dead server."""
        conn = self._connection()
        headers = {**self.auth_headers, **req.headers}
        start = time.monotonic()
        try:
            conn.putrequest(req.method, req.path, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            if req.body is not None or req.method in ("POST", "PUT", "PATCH"):
                conn.putheader("Content-Length", str(len(req.body or b"")))
            conn.endheaders(req.body)
            resp = conn.getresponse()
            took = time.monotonic() - start
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            if resp.status == 200 and resp_headers.get("transfer-encoding") == "chunked" and _is_watch(req):
                body = _first_line(resp, conn)
                self.close()
                return Response(resp.status, resp_headers, body, took)
            data = resp.read()
            if resp.will_close:
                self.close()
            return Response(resp.status, resp_headers, data, took)
        except (OSError, http.client.HTTPException):
            self.close()
            raise


def _is_watch(req: Request) -> bool:
    """Whether the server answers ``req`` with a stream: a watch or a followed log, the flags read as the server
    reads them (``watch=`` is a watch, ``watch=0`` is not)."""
    from pinnace.api.params import query_bool

    query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query, keep_blank_values=True)
    return "/watch/" in req.path or any(query_bool((query.get(flag) or [None])[0]) for flag in ("watch", "follow"))


def _first_line(resp: http.client.HTTPResponse, conn: http.client.HTTPConnection) -> bytes | None:
    """The first line of a stream, or None when none came within half a second."""
    if conn.sock is not None:
        conn.sock.settimeout(0.5)
    try:
        return resp.readline(1 << 20)
    except (TimeoutError, OSError, http.client.HTTPException):
        return None


class _ErrorLog(logging.Handler):
    """Collects the errors an in-process server logs (a logged traceback is a bug answered 500 or swallowed)."""

    def __init__(self, sink: list[str]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(self.format(record))


@contextlib.contextmanager
def in_process_target() -> Iterator[Target]:
    """An API server of this process (SQLite in a temporary directory, the default admission plugins) on a loopback
    port, served from its own thread and event loop until the block ends."""
    import asyncio

    from pinnace.apiserver.admission.plugins import DEFAULT_PLUGINS
    from pinnace.apiserver.server import APIServer
    from pinnace.cluster.runtime_tuning import resident_bytes
    from pinnace.storage.sqlite import SQLiteStore

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-api-server", daemon=True)
    thread.start()
    with tempfile.TemporaryDirectory(prefix="pinnace-fuzz-") as tmp:

        async def start() -> tuple[APIServer, SQLiteStore]:
            store = await SQLiteStore.open(Path(tmp) / "store.db")
            server = APIServer(store, admission_plugins=DEFAULT_PLUGINS)
            await server.listen("127.0.0.1", 0)
            return server, store

        server, store = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
        target = Target(server.url)
        target.resident = resident_bytes
        handler = _ErrorLog(target.server_errors)
        logging.getLogger().addHandler(handler)
        try:
            yield target
        finally:
            logging.getLogger().removeHandler(handler)
            target.close()
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
                asyncio.run_coroutine_threadsafe(store.close(), loop).result(30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)


def kubeconfig_target(path: str, server_pid: int | None = None) -> Target:
    """A target for the cluster a kubeconfig's current context names (client certificate or token); with
    ``server_pid``, the API server process whose memory to watch."""
    from pinnace.client.config import load_client_config

    config = load_client_config(path)
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    target = Target(config.server, ssl_context=config.ssl_context(), headers=headers)
    if server_pid is not None:
        from pinnace.cluster.runtime_tuning import resident_bytes

        target.resident = lambda: resident_bytes(server_pid)
    return target


# ---- the fuzzer ---------------------------------------------------------------------------------------------


def _expected_5xx(req: Request, resp: Response) -> bool:
    """A 5xx upstream answers too: a proxy to nothing (502/503), a resourceVersion the store has not reached (504)."""
    if "/proxy" in req.path and resp.status in (502, 503):
        return True
    return resp.status == 504 and b"Too large resource version" in (resp.body or b"")


def _expected_wait(resp: Response) -> bool:
    """A slow answer upstream gives too: a resourceVersion the store has not reached is awaited for 3 s first."""
    return resp.seconds < 3 + SLOW and b"Too large resource version" in (resp.body or b"")


def _plain_ok(req: Request, resp: Response) -> bool:
    """A plain-text error upstream gives too: the HTTP layer's, or the 404 of a path outside the API."""
    if "json" in resp.headers.get("content-type", ""):
        return False
    if resp.status in HTTP_LAYER_CODES:
        return True
    outside_api = not req.path.startswith(("/api/", "/apis/", "/api?", "/apis?")) and req.path not in ("/api", "/apis")
    return resp.status == 404 and outside_api


def _is_status(body: bytes | None) -> bool:
    if body is None:
        return False
    if body.startswith(b"k8s\x00"):
        return True  # a protobuf-encoded Status (the client asked for protobuf)
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("kind") == "Status"


class Fuzzer:
    """Sends seeded random bad requests to a target and collects the :class:`Finding`s.

    ``budget`` caps the requests and ``seconds`` the time (whichever ends first); ``modes`` are among
    ``types``, ``query``, ``paths``, ``deep``; a request slower than ``slow`` seconds is a finding.
    """

    MODES = ("types", "query", "paths", "deep")

    def __init__(
        self,
        target: Target,
        *,
        seed: int = 0,
        budget: int = 2000,
        seconds: float = 60.0,
        modes: tuple[str, ...] = MODES,
        namespace: str = "fuzz",
        slow: float = SLOW,
        max_resident: int = MAX_RESIDENT,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.target = target
        self.max_resident = max_resident
        self.rng = random.Random(seed)
        self.budget, self.seconds, self.modes = budget, seconds, modes
        self.ns = namespace
        self.slow = slow
        self.findings: list[Finding] = []
        self.sent = 0
        self._deadline = 0.0
        self._serial = 0
        self._log = log or (lambda _msg: None)
        self._samples = samples()

    # ---- plumbing ---------------------------------------------------------------------------------------

    def _left(self) -> bool:
        return self.sent < self.budget and time.monotonic() < self._deadline

    def send(self, req: Request, *, expect_ok: bool = False) -> Response | None:
        """Send one request and judge its answer (None when the server did not answer at all)."""
        self.sent += 1
        try:
            resp = self.target.send(req)
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, TimeoutError | socket.timeout):
                self.findings.append(Finding("hang", req, f"no answer within {HANG} s"))
            elif not self._ready():
                self.findings.append(Finding("server died", req, repr(e)))
                raise SystemExit("the server no longer answers /readyz") from e
            return None
        self._judge(req, resp)
        for line in self.target.server_errors:
            if line.startswith(PARSER_LOG) and "aiohttp.http_exceptions" in line:
                continue
            self.findings.append(Finding("server logged an error", req, line[-3000:]))
        self.target.server_errors.clear()
        if expect_ok and resp.status >= 300:
            self._log(f"setup request failed: {req.method} {req.path} -> {resp.status} {(resp.body or b'')[:300]!r}")
        return resp

    def _judge(self, req: Request, resp: Response) -> None:
        if resp.status >= 500 and not _expected_5xx(req, resp):
            self.findings.append(Finding(f"{resp.status}", req, (resp.body or b"")[:3000].decode(errors="replace")))
        elif resp.seconds > self.slow and not _expected_wait(resp):
            self.findings.append(Finding("slow", req, f"{resp.seconds:.1f} s"))
        elif resp.status >= 400 and req.method != "HEAD" and not _is_status(resp.body) and not _plain_ok(req, resp):
            self.findings.append(
                Finding(f"{resp.status} without a Status", req, (resp.body or b"")[:1000].decode(errors="replace"))
            )
        if resp.status == 200 and resp.body and _is_watch(req) and b'"ERROR"' in resp.body[:200]:
            with contextlib.suppress(ValueError):
                event = json.loads(resp.body)
                if event.get("object", {}).get("code", 0) >= 500 and not _expected_wait(resp):
                    self.findings.append(
                        Finding("watch ERROR event 5xx", req, resp.body[:1000].decode(errors="replace"))
                    )

    def _ready(self) -> bool:
        for _ in range(3):
            try:
                resp = self.target.send(Request("GET", "/readyz"))
                if resp.status == 200:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(1)
        return False

    def _check_ready(self) -> None:
        if not self._ready():
            self.findings.append(Finding("server not ready after a batch", Request("GET", "/readyz")))
            raise SystemExit("the server no longer answers /readyz")

    def _name(self, base: str) -> str:
        self._serial += 1
        return f"{base}-z{self._serial}"

    def _json(self, method: str, path: str, body: Any, content_type: str = "application/json") -> Request:
        return Request(method, path, {"Content-Type": content_type, "Accept": "application/json"}, encode_json(body))

    def _item(self, sample: Sample, name: str) -> str:
        return f"{sample.collection(self.ns)}/{urllib.parse.quote(name, safe='')}"

    # ---- setup --------------------------------------------------------------------------------------------

    def setup(self) -> None:
        """Make the namespace, the CRD (waiting until its resource is served) and one good object of each kind."""
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.ns}}
        self.send(self._json("POST", "/api/v1/namespaces", ns))
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        self.send(self._json("POST", f"/api/v1/namespaces/{self.ns}/serviceaccounts", account))
        self.send(self._json("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", CRD))
        for _ in range(100):
            resp = self.send(Request("GET", f"/apis/{CR_GROUP}/v1"))
            if resp is not None and resp.status == 200 and b"widgets" in (resp.body or b""):
                break
            time.sleep(0.1)
        for sample in self._samples:
            if sample.kind != "CustomResourceDefinition":
                self.send(self._json("POST", sample.collection(self.ns), sample.obj))

    def run(self) -> list[Finding]:
        """Fuzz until the budget or the time is spent; the findings."""
        self._deadline = time.monotonic() + self.seconds
        self.setup()
        self._check_ready()
        steps = {"types": self._types, "query": self._query, "paths": self._paths, "deep": self._deep}
        while self._left():
            mode = self.rng.choice(self.modes)
            start = self.sent
            while self.sent - start < BATCH and self._left():
                steps[mode]()
            self._check_ready()
            self._check_memory(mode, start)
            self._log(f"{self.sent} requests, {len(self.findings)} findings")
        return self.findings

    def _check_memory(self, mode: str, first: int) -> None:
        """A server grown past ``max_resident`` is a finding (once): bad input must not cost it its memory."""
        if self.target.resident is None or any(f.what == "server memory" for f in self.findings):
            return
        resident = self.target.resident()
        if resident > self.max_resident:
            batch = Request("-", f"the {mode} batch of requests {first + 1}-{self.sent}")
            limit = self.max_resident // 2**20
            self.findings.append(Finding("server memory", batch, f"{resident // 2**20} MB resident (over {limit})"))

    # ---- type confusion -----------------------------------------------------------------------------------

    def _types(self) -> None:
        sample = self.rng.choice(self._samples)
        paths = list(field_paths(sample.obj))
        path, is_new = self.rng.choice(paths)
        value = self.rng.choice(ODD_VALUES)
        mutated = set_path(sample.obj, path, value)
        ops = ["create", "update", "merge", "strategic", "apply-yaml", "apply-json", "json-patch"]
        ops += [f"{sub}:{op}" for sub in sample.subresources for op in ("update", "merge", "json-patch")]
        for op in self.rng.sample(ops, k=min(len(ops), 4)):
            self._type_op(sample, op, path, is_new, value, mutated)
        self._restore(sample)

    def _created_name(self, sample: Sample) -> tuple[str, Obj]:
        """A fresh name for a create of ``sample`` and the metadata (or CRD spec) that carries it."""
        if sample.kind == "CustomResourceDefinition":
            group = f"{self._name('g')}.{CR_GROUP}"
            return f"widgets.{group}", {"group": group}
        return self._name(str(sample.obj["metadata"]["name"])), {}

    def _type_op(self, sample: Sample, op: str, path: Path_, is_new: bool, value: Any, mutated: Any) -> None:
        name = str(sample.obj["metadata"]["name"])
        item = self._item(sample, name)
        sub, _, verb = op.rpartition(":")
        target = f"{item}/{sub}" if sub else item
        if op == "create":
            new_name, spec_extra = self._created_name(sample)
            body = copy.deepcopy(mutated)
            if isinstance(body, dict):
                if isinstance(body.get("metadata"), dict) and path[:2] != ("metadata", "name"):
                    body["metadata"]["name"] = new_name
                if spec_extra and isinstance(body.get("spec"), dict):
                    body["spec"].update(spec_extra)
            resp = self.send(self._json("POST", sample.collection(self.ns), body))
            if resp is not None and resp.status < 300:
                self.send(Request("DELETE", self._item(sample, new_name)))
            return
        if sub == "scale":
            self._scale_op(target, verb, value)
            return
        if verb == "update":
            current = self.send(Request("GET", item))
            rv = ""
            if current is not None and current.status == 200:
                rv = json.loads(current.body or b"{}").get("metadata", {}).get("resourceVersion", "")
            body = copy.deepcopy(mutated)
            if (
                isinstance(body, dict)
                and isinstance(body.get("metadata"), dict)
                and path[:2] != ("metadata", "resourceVersion")
            ):
                body["metadata"]["resourceVersion"] = rv
            self.send(self._json("PUT", target, body))
        elif verb in ("merge", "strategic"):
            ctype = f"application/{verb}-merge-patch+json" if verb == "strategic" else "application/merge-patch+json"
            self.send(self._json("PATCH", target, merge_patch_for(sample.obj, path, value), ctype))
        elif verb == "json-patch":
            op_name = self.rng.choice(["add" if is_new else "replace", "add", "test", "remove", "move", "copy"])
            patch: Obj = {"op": op_name, "path": json_pointer(path), "value": value}
            if op_name in ("move", "copy"):
                patch = {"op": op_name, "from": json_pointer(path), "path": json_pointer(path[:-1]) + "/moved"}
            self.send(self._json("PATCH", target, [patch], "application/json-patch+json"))
        elif verb.startswith("apply"):
            query = f"?fieldManager=fuzz&force={self.rng.choice(['true', 'false'])}"
            if verb == "apply-yaml":
                data = encode_yaml(mutated)
                if data is None:
                    return
                headers = {"Content-Type": "application/apply-patch+yaml", "Accept": "application/json"}
                self.send(Request("PATCH", target + query, headers, data))
            else:
                self.send(self._json("PATCH", target + query, mutated, "application/apply-patch+yaml"))

    def _scale_op(self, target: str, verb: str, value: Any) -> None:
        path = self.rng.choice([("spec", "replicas"), ("spec",), ("status", "replicas"), ("metadata", "name"), ("x",)])
        if verb == "update":
            current = self.send(Request("GET", target))
            scale = json.loads(current.body or b"{}") if current is not None and current.status == 200 else {}
            if isinstance(scale, dict) and scale.get("kind") == "Scale":
                self.send(
                    self._json(
                        "PUT", target, set_path(scale, path, value) if len(path) == 1 or path[0] in scale else scale
                    )
                )
        elif verb == "merge":
            self.send(
                self._json(
                    "PATCH",
                    target,
                    merge_patch_for({"spec": {}, "status": {}}, path, value),
                    "application/merge-patch+json",
                )
            )
        else:
            self.send(
                self._json(
                    "PATCH",
                    target,
                    [{"op": "replace", "path": json_pointer(path), "value": value}],
                    "application/json-patch+json",
                )
            )

    def _restore(self, sample: Sample) -> None:
        """Put the stored good object back to the sample (it may have been changed by a patch that went through)."""
        item = self._item(sample, str(sample.obj["metadata"]["name"]))
        current = self.send(Request("GET", item))
        if current is None or current.status != 200:
            self.send(self._json("POST", sample.collection(self.ns), sample.obj))
            return
        stored = json.loads(current.body or b"{}")
        body = copy.deepcopy(sample.obj)
        body["metadata"]["resourceVersion"] = stored.get("metadata", {}).get("resourceVersion", "")
        if "status" in stored and sample.kind in ("CustomResourceDefinition",):
            body["status"] = stored["status"]
        self.send(self._json("PUT", item, body))

    # ---- query parameters ---------------------------------------------------------------------------------

    def _query(self) -> None:
        sample = self.rng.choice(self._samples)
        name = str(sample.obj["metadata"]["name"])
        params = {
            p: self.rng.choice(QUERY_PARAMS[p]) for p in self.rng.sample(sorted(QUERY_PARAMS), k=self.rng.randint(1, 3))
        }
        kind = self.rng.choice(["list", "get", "watch", "watch-path", "delete", "deletecollection", "log"])
        if kind == "watch":
            params.setdefault("watch", "true")
        if kind in ("delete", "deletecollection"):
            params.setdefault("dryRun", "All")
        query = urllib.parse.urlencode(params)
        coll = sample.collection(self.ns)
        path = {
            "list": coll,
            "get": self._item(sample, name),
            "watch": coll,
            "watch-path": coll.replace(sample.api, sample.api + "/watch", 1),
            "delete": self._item(sample, name),
            "deletecollection": coll,
            "log": f"/api/v1/namespaces/{self.ns}/pods/p/log",
        }[kind]
        method = "DELETE" if kind.startswith("delete") else "GET"
        accept = self.rng.choice(["application/json", self.rng.choice(ACCEPTS)])
        resp = self.send(Request(method, f"{path}?{query}", {"Accept": accept}))
        if resp is not None and method == "DELETE" and resp.status < 300 and params.get("dryRun") != "All":
            self._restore(sample)

    # ---- paths, methods, headers --------------------------------------------------------------------------

    def _odd_path(self) -> str:
        sample = self.rng.choice(self._samples)
        coll = sample.collection(self.ns)
        segment = self.rng.choice(
            [
                "%2e%2e",
                "..",
                ".",
                "%2F",
                "a%00b",
                "%zz",
                "x" * 300,
                "x" * 70000,
                "UPPER",
                "-a-",
                "a:b",
                "%C3%BC",
                "%ED%A0%80",
                "",
                "~",
                "a b".replace(" ", "%20"),
                "*",
            ]
        )
        return self.rng.choice(
            [
                f"{coll}/{segment}",
                f"{coll}/{segment}/status",
                f"{coll}/{sample.obj['metadata']['name']}/{segment}",
                f"{coll}/{sample.obj['metadata']['name']}/scale"
                if "scale" not in sample.subresources
                else f"{coll}//scale",
                f"{coll}/{sample.obj['metadata']['name']}/status/extra",
                f"{coll}/{sample.obj['metadata']['name']}/log",
                f"{coll}/{sample.obj['metadata']['name']}/proxy/{segment}",
                f"{coll}/",
                f"{coll}//",
                f"/{coll}",
                coll.replace("/v1/", "//v1/", 1),
                f"/apis/{segment}/v1/things",
                f"/apis/{segment}",
                f"/apis/apps/{segment}",
                f"/api/{segment}",
                f"/api/v1/namespaces/{segment}/pods",
                f"/api/v1/namespaces/{segment}",
                f"/api/v1/namespaces/{self.ns}/{segment}",
                f"/api/v1/{segment}/x",
                f"/api/v1/watch/namespaces/{self.ns}/{segment}",
                f"/apis/{CR_GROUP}/v1/namespaces/{self.ns}/widgets/w/{segment}",
                f"/openapi/v3/{segment}",
                f"/openapi/v3/apis/{segment}",
                f"/{segment}",
                f"/healthz/{segment}",
                f"/readyz/{segment}",
                f"/livez/{segment}",
                f"/version/{segment}",
                f"/metrics/{segment}",
                f"/api/v1/nodes/fuzz-node/proxy/{segment}",
                f"/api/v1/namespaces/{self.ns}/services/svc:http/proxy/{segment}",
                f"/api/v1/namespaces/{self.ns}/pods/p/exec?command={segment}",
                f"/api/v1/namespaces/{self.ns}/pods/p/{self.rng.choice(POD_SUBRESOURCES)}",
                f"/api/v1/namespaces/{self.ns}/serviceaccounts/sa/token",
                "/apis/authentication.k8s.io/v1/tokenreviews",
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                "/apis/authorization.k8s.io/v1/subjectaccessreviews",
                "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                f"{coll}?{segment}={segment}",
                f"{coll}#frag",
                "*",
                f"{coll}?" + "&".join(["a=b"] * 2000),
            ]
        )

    def _paths(self) -> None:
        path = self._odd_path()
        method = self.rng.choice(METHODS)
        headers: dict[str, str] = {}
        if self.rng.random() < 0.7:
            headers["Accept"] = self.rng.choice(ACCEPTS)
        if self.rng.random() < 0.7:
            headers["Content-Type"] = self.rng.choice(CONTENT_TYPES)
        if self.rng.random() < 0.1:
            headers["X-Fuzz"] = "x" * self.rng.choice([100, 8000, 9000, 70000])
        if self.rng.random() < 0.1:
            headers[
                self.rng.choice(["Impersonate-User", "Impersonate-Group", "Authorization", "Transfer-Encoding"])
            ] = self.rng.choice(["", "x", "Bearer ", "Basic ###", "system:admin", "chunked, gzip"])
        body = self.rng.choice([*BAD_BODIES, None, encode_json(self.rng.choice(self._samples).obj)])
        if method in ("GET", "HEAD") and self.rng.random() < 0.7:
            body = None
        if method == "CONNECT":
            body = None
        if method == "DELETE" and "dryRun" not in path:
            path += ("&" if "?" in path else "?") + "dryRun=All"
        self.send(Request(method, path, headers, body))
        self.target.close()  # what the server left unread of an odd request must not become the next request

    # ---- deep and large -----------------------------------------------------------------------------------

    def _deep(self) -> None:
        depth = self.rng.choice([150, 195, 197, 198, 199, 200, 201, 202, 254, 255, 300])
        nested: Any = "leaf"
        for _ in range(depth):
            nested = self.rng.choice([{"a": nested}, [nested]])
        widget = next(s for s in self._samples if s.kind == "Widget")
        cm = next(s for s in self._samples if s.kind == "ConfigMap")
        size = self.rng.choice([3 * 1024 * 1024 - 200, 3 * 1024 * 1024, 3 * 1024 * 1024 + 10, 1024 * 1024 + 1, 262144])
        big_value = "x" * size
        choice = self.rng.randrange(7)
        if choice == 0:
            body: Any = set_path(widget.obj, ("spec", "extra", "deep"), nested)
            body["metadata"]["name"] = self._name("deep")
            self._send_and_delete(widget, body)
        elif choice == 1:
            body = set_path(cm.obj, ("data",), {"big": big_value})
            body["metadata"]["name"] = self._name("big")
            self._send_and_delete(cm, body)
        elif choice == 2:
            body = set_path(
                cm.obj, ("metadata", "annotations"), {"a": "x" * self.rng.choice([262144 - 2, 262144, 262145])}
            )
            body["metadata"]["name"] = self._name("ann")
            self._send_and_delete(cm, body)
        elif choice == 3:
            body = set_path(cm.obj, ("data",), {f"k{i}": "v" for i in range(self.rng.choice([1000, 50000, 150000]))})
            body["metadata"]["name"] = self._name("keys")
            self._send_and_delete(cm, body)
        elif choice == 4:
            item = self._item(widget, "w")
            self.send(self._json("PATCH", item, {"spec": {"extra": {"deep": nested}}}, "application/merge-patch+json"))
            self._restore(widget)
        elif choice == 5:
            depth = self.rng.choice([depth, 1000, 10000, 100000])
            raw = self.rng.choice([b'{"a":' * depth + b"1" + b"}" * depth, b"[" * depth + b"]" * depth])
            self.send(Request("POST", cm.collection(self.ns), {"Content-Type": "application/json"}, raw))
        else:
            yaml_body = ("a:\n" + "".join("  " * i + "- \n" for i in range(1, min(depth, 400)))).encode()
            ctype = self.rng.choice(["application/yaml", "application/apply-patch+yaml"])
            method = "POST" if ctype == "application/yaml" else "PATCH"
            path = cm.collection(self.ns) + ("" if method == "POST" else "/cm?fieldManager=fuzz")
            self.send(Request(method, path, {"Content-Type": ctype}, yaml_body))

    def _send_and_delete(self, sample: Sample, body: Obj) -> None:
        resp = self.send(self._json("POST", sample.collection(self.ns), body))
        if resp is not None and resp.status < 300:
            self.send(Request("DELETE", self._item(sample, body["metadata"]["name"])))


def report(findings: list[Finding], out: Callable[[str], None] = print) -> None:
    """Print the findings, the same finding on the same path once (with how often it came), each with a reproducer."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for f in findings:
        kind = "slow" if f.what == "slow" else f.what
        groups.setdefault((kind, f.request.method, urllib.parse.urlsplit(f.request.path).path[:200]), []).append(f)
    for same in groups.values():
        first = same[0]
        times = f" (x{len(same)})" if len(same) > 1 else ""
        out(f"=== {first.what}{times}: {first.detail[:1500]}\n{first.request.reproducer()}\n")
    out(f"{len(findings)} findings ({len(groups)} distinct)")


def main(argv: list[str] | None = None) -> int:
    """The command line: fuzz, print the findings, exit 1 when there is one."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=0, help="the random seed (the same seed sends the same requests)")
    parser.add_argument("--budget", type=int, default=10**9, help="at most this many requests")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most this long")
    parser.add_argument("--modes", default=",".join(Fuzzer.MODES), help="comma-separated: types,query,paths,deep")
    parser.add_argument("--kubeconfig", help="fuzz the cluster of this kubeconfig (default: an in-process server)")
    parser.add_argument("--slow", type=float, default=SLOW, help="a request slower than this (seconds) is a finding")
    parser.add_argument("--namespace", default="fuzz", help="where namespaced objects go (made if missing)")
    parser.add_argument("--server-pid", type=int, help="with --kubeconfig: the API server process, to watch its memory")
    parser.add_argument(
        "--max-resident-mb", type=int, default=MAX_RESIDENT // 2**20, help="server memory that is a finding"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print progress after every batch")
    args = parser.parse_args(argv)
    modes = tuple(m for m in args.modes.split(",") if m)
    unknown = set(modes) - set(Fuzzer.MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    logging.getLogger().setLevel(logging.ERROR)
    log = (lambda m: print(m, file=sys.stderr)) if args.verbose else None
    with contextlib.ExitStack() as stack:
        target = (
            kubeconfig_target(args.kubeconfig, args.server_pid)
            if args.kubeconfig
            else stack.enter_context(in_process_target())
        )
        fuzzer = Fuzzer(
            target,
            seed=args.seed,
            budget=args.budget,
            seconds=args.seconds,
            modes=modes,
            namespace=args.namespace,
            slow=args.slow,
            max_resident=args.max_resident_mb * 2**20,
            log=log,
        )
        try:
            findings = fuzzer.run()
        except SystemExit as e:
            print(e, file=sys.stderr)
            findings = fuzzer.findings
    report(findings)
    print(f"{fuzzer.sent} requests sent", file=sys.stderr)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
