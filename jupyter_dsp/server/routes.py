"""Which KFP API requests the proxy lets through, and how it pins their namespace.

Pure logic, no tornado: :func:`match` turns (space, method, raw path, query) into a
:class:`Route` or raises :class:`ProxyError` (404 off the allowlist, 403 for a namespace or
policy violation, 400 for a malformed request).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlencode

from jupyter_dsp.common.managed import read_only_message
from jupyter_dsp.server.errors import ProxyError
from jupyter_dsp.server.version_specs import wants_specs

API_PREFIX = ("apis", "v2beta1")
# KFP ids are UUIDs; the embedded stack's are URL-safe too. No ':' (actions), '/', '%', '..'.
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.~-]{0,127}$")
ACTION = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.~-]{0,127}):([a-z]+)$")
QUERY_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,63}$")
MAX_NAME = 512
# after decoding once: no separators, no second level of escaping, no control characters
UNSAFE_SEGMENT = re.compile(r"[/\\%\x00-\x1f\x7f]")
# query parameters that carry Jupyter's credentials (token auth, XSRF): consumed by Jupyter
JUPYTER_CREDENTIALS = frozenset({"token", "_xsrf"})


@dataclass
class Route:
    kind: str  # e.g. "pipelines.list", "runs.create", "runs.logs"
    resource: str  # healthz | pipelines | experiments | runs
    segments: list[str]  # decoded, validated path segments after apis/v2beta1
    write: bool
    body: str = "none"  # none | json | stream
    pin_query: bool = False  # set/check ?namespace=
    pin_body: str | None = None  # JSON path of a namespace to set/check: "namespace"|"pipeline"
    pipeline_id: str | None = None  # a pipeline written to (policy/ownership check)
    upload: bool = False  # upload endpoints answer errors in their own shape
    query: list[tuple[str, str]] = field(default_factory=list)
    strip_specs: bool = False  # a version list without pipeline_spec/platform_spec

    def upstream_path(self) -> str:
        """The canonical path to send upstream: every segment re-encoded."""
        parts = [quote(s, safe=":~") for s in self.segments]
        return "/apis/v2beta1/" + "/".join(parts)

    def upstream_target(self) -> str:
        target = self.upstream_path()
        if self.query:
            target += "?" + urlencode(self.query)
        return target


def split_path(raw: str) -> list[str]:
    """Decode a raw (percent-encoded) path into segments; refuse anything that could escape."""
    if not raw or raw.startswith("/") or "\\" in raw or "//" in raw:
        raise ProxyError(404, "not a KFP API path")
    segments = []
    for seg in raw.split("/"):
        decoded = unquote(seg, errors="strict") if "%" in seg else seg
        if (
            not decoded
            or decoded in (".", "..")
            or UNSAFE_SEGMENT.search(decoded)
            or len(decoded) > MAX_NAME
        ):
            raise ProxyError(404, "not a KFP API path")
        segments.append(decoded)
    return segments


def _id(seg: str) -> str:
    if not ID.match(seg):
        raise ProxyError(404, "not a KFP API path")
    return seg


def _action(seg: str, allowed: Iterable[str]) -> tuple[str, str] | None:
    m = ACTION.match(seg)
    if not m or m.group(2) not in allowed:
        return None
    return m.group(1), m.group(2)


METHOD_NOT_ALLOWED = "method not allowed on this KFP API path"
# the pipeline collection's POST endpoints (``/pipelines/{name}``): the route of each
PIPELINE_POSTS: dict[str, dict[str, object]] = {
    "create": {"kind": "pipelines.create_with_version", "body": "json", "pin_body": "pipeline"},
    "upload": {"kind": "pipelines.upload", "body": "stream", "pin_query": True, "upload": True},
    "upload_version": {"kind": "pipelines.upload_version", "body": "stream", "upload": True},
}


def classify(method: str, segments: list[str]) -> Route:
    """Map a path (segments after ``apis/v2beta1``) and method to a route, else 404/405."""
    s = segments
    n = len(s)
    w = method != "GET"

    def route(kind: str, resource: str, allowed: set[str], **kw: object) -> Route:
        if method not in allowed:
            raise ProxyError(405, METHOD_NOT_ALLOWED)
        return Route(kind=kind, resource=resource, segments=list(s), write=w, **kw)  # type: ignore[arg-type]

    def listed(resource: str, pin_create: str | None) -> Route:
        """``/{resource}``: GET lists the space's (query pinned), POST creates one."""
        if method == "GET":
            return route(f"{resource}.list", resource, {"GET"}, pin_query=True)
        return route(f"{resource}.create", resource, {"POST"}, body="json", pin_body=pin_create)

    def item(resource: str, actions: tuple[str, ...]) -> Route:
        """``/{resource}/{id}`` (GET, DELETE) or ``/{resource}/{id}:{action}`` (POST)."""
        if _action(s[1], actions):
            return route(f"{resource}.action", resource, {"POST"}, body="json")
        _id(s[1])
        return route(f"{resource}.item", resource, {"GET", "DELETE"})

    if n == 0:
        raise ProxyError(404, "not a KFP API path")
    head = s[0]
    if head == "healthz" and n == 1:
        return route("healthz", "healthz", {"GET"})
    if head == "pipelines":
        if n == 1:
            return listed("pipelines", "namespace")
        if n == 2 and s[1] in PIPELINE_POSTS:
            options = dict(PIPELINE_POSTS[s[1]])
            return route(str(options.pop("kind")), "pipelines", {"POST"}, **options)
        if n == 3 and s[1] == "names":
            return route("pipelines.by_name", "pipelines", {"GET"}, pin_query=True)
        pid = _id(s[1])

        def editable(kind: str) -> Route:
            """A pipeline or a version: read, delete, or PATCH with a JSON body."""
            body = "json" if method == "PATCH" else "none"
            allowed = {"GET", "DELETE", "PATCH"}
            return route(kind, "pipelines", allowed, body=body, pipeline_id=pid if w else None)

        if n == 2:
            return editable("pipelines.item")
        if s[2] == "versions":
            if n == 3:
                return route(
                    "versions.collection",
                    "pipelines",
                    {"GET", "POST"},
                    body="json" if w else "none",
                    pipeline_id=pid if w else None,
                )
            if n == 4:
                _id(s[3])
                return editable("versions.item")
        raise ProxyError(404, "not a KFP API path")
    if head == "experiments":
        if n == 1:
            return listed("experiments", "namespace")
        if n == 2:
            return item("experiments", ("archive", "unarchive"))
        raise ProxyError(404, "not a KFP API path")
    if head == "runs":  # create: a run's namespace is its experiment's (ownership.py checks it)
        if n == 1:
            return listed("runs", None)
        if n == 2:
            return item("runs", ("archive", "unarchive", "terminate", "retry"))
        _id(s[1])
        if n == 5 and s[2] == "tasks" and s[4] == "logs":
            _id(s[3])
            return route("runs.logs", "runs", {"GET"})
        if n == 6 and s[2] == "nodes" and s[4] == "artifacts":
            _id(s[3])
            art = s[5]
            if art.endswith(":read") and ID.match(art[: -len(":read")]):
                return route("runs.artifact", "runs", {"GET"})
        raise ProxyError(404, "not a KFP API path")
    if head == "recurringruns":  # like runs; create pins body.namespace
        if n == 1:
            return listed("recurringruns", "namespace")
        if n == 2:
            return item("recurringruns", ("enable", "disable"))
        raise ProxyError(404, "not a KFP API path")
    raise ProxyError(404, "not a KFP API path")


PROJECT_ONLY = ("experiments", "runs", "recurringruns")


def match(
    space_name: str,
    space_namespace: str,
    space_writable: bool,
    policy: str,
    method: str,
    raw_path: str,
    query: list[tuple[str, str]],
    managed: str = "",
) -> Route:
    """The route for a proxied request, with its query already pinned. ``managed``: the
    space's (common/managed.py); "only" is the platform's managed pipelines, read-only."""
    segments = split_path(raw_path)
    if len(segments) < 2 or tuple(segments[:2]) != API_PREFIX:
        raise ProxyError(404, "not a KFP API path: only /apis/v2beta1/... is proxied")
    route = classify(method, segments[2:])
    route.segments = segments[2:]
    if space_name == "shared":
        if route.resource in PROJECT_ONLY:
            raise ProxyError(
                404, f"{route.resource} live in the project space, not in the shared space"
            )
        if route.write and managed == "only":
            raise ProxyError(403, read_only_message())
        if route.write and not space_writable:
            raise ProxyError(
                403,
                f"the shared space is {policy}: writing shared pipelines is not allowed here "
                "(an administrator sets DSPSettings.shared_policy)",
            )
    route.query = pin_query(route, space_name, space_namespace, query)
    include, route.query = wants_specs(route.query)  # the proxy's own: never forwarded
    route.strip_specs = route.kind == "versions.collection" and method == "GET" and not include
    return route


def pin_query(
    route: Route, space_name: str, namespace: str, query: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for key, value in query:
        if not QUERY_KEY.match(key):
            raise ProxyError(400, f"invalid query parameter name {key[:40]!r}")
        if key in seen:
            # KFP's Go server reads the first value, tornado the last: one value, or nothing
            raise ProxyError(400, f"query parameter {key!r} is repeated: give it once")
        seen.add(key)
        if key in JUPYTER_CREDENTIALS:
            continue  # Jupyter's own, never the stack's
        if key == "namespace":
            check_namespace(value, space_name, namespace)
            continue
        out.append((key, value))
    if route.pin_query and namespace:
        out.append(("namespace", namespace))
    return out


def check_namespace(value: str | None, space_name: str, namespace: str) -> None:
    """A caller may name the space's own namespace (or none); any other is 403."""
    if value in (None, "", namespace):
        return
    if space_name == "shared":
        raise ProxyError(
            403,
            f"namespace {value!r} is not allowed in the shared space (shared pipelines have "
            "no namespace); use the project space",
        )
    raise ProxyError(
        403,
        f"namespace {value!r} is not this project's namespace ({namespace!r}); the proxy only "
        "reaches the project namespace",
    )
