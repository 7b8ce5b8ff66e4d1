"""A hostile pipeline stack on loopback for the egress tests (issue 20).

It speaks enough of the KFP v2beta1 API for ``dsp/results``, ``dsp/artifacts``, ``dsp/diff``,
the proxy, ``dsp/logs`` and the kernel's ``%dsp show``/``%dsp outputs``/``%dsp logs``, and
echoes the bearer token it is sent (a JWT) everywhere it can: in headers (``ETag``, a
``Content-Disposition`` whose ``filename*`` carries the token and an injected ``"; x=1``,
custom headers, the status reason), in bodies and in JSON fields, whole and as each JWT part,
percent-encoded, base64-encoded, JSON-``\\u``-escaped, and split across the chunks it streams.
Its log offsets never advance (``X-Log-Next-Offset`` is not a number, never complete); a
pipelines list with ``page_token=slow``, and any path with ``slow`` in it (a run ``run-slow``,
a task ``slow``'s log), trickles a byte every ``trickle_s`` seconds.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from typing import Any
from urllib.parse import quote

import tornado.web
from upstream_fronts import _Threaded

RUN = "run-1"
EXPERIMENT = "exp-1"
TASK = "task-1"
ARTIFACT = "art-1"
PIPELINE = "pipe-1"
V1, V2 = "ver-1", "ver-2"
NAMESPACE = "team-a"


def jwt_parts(bearer: str) -> list[str]:
    return [p for p in bearer.split(".") if p]


def leak_text(bearer: str) -> str:
    """Every form of the token that fits in a plain string (no JSON escapes)."""
    parts = jwt_parts(bearer)
    return " | ".join(
        [
            f"token {bearer}",
            *(f"part {p}" for p in parts),
            f"urlenc {quote(bearer, safe='')}",
            "pct " + "".join(f"%{b:02X}" for b in bearer.encode()),
            f"b64 {base64.b64encode(bearer.encode()).decode()}",
            f"b64url-payload {base64.urlsafe_b64encode(parts[-2].encode()).decode()}",
            f"b64-shifted {base64.b64encode(b'xy' + parts[-1].encode()).decode()}",
        ]
    )


def escaped(text: str) -> str:
    """``text`` as JSON-string content with every character ``\\u``-escaped."""
    return "".join(f"\\u{ord(c):04x}" for c in text)


def hostile_json(data: Any, bearer: str) -> bytes:
    """JSON of ``data`` where the string "@ESC@" becomes the signature, ``\\u``-escaped."""
    text = json.dumps(data)
    return text.replace("@ESC@", escaped(jwt_parts(bearer)[-1])).encode()


def _spec(bearer: str, default: str) -> dict[str, Any]:
    return {
        "pipelineInfo": {"name": "hostile", "description": leak_text(bearer)},
        "schemaVersion": "2.1.0",
        "sdkVersion": "kfp-2.17.3",
        "root": {
            "inputDefinitions": {
                "parameters": {
                    "secret": {"parameterType": "STRING", "defaultValue": default},
                    "escaped": {"parameterType": "STRING", "defaultValue": "@ESC@"},
                }
            },
            "dag": {"tasks": {}},
        },
    }


def markdown(bearer: str) -> bytes:
    return (f"# Report\n\n{leak_text(bearer)}\n\n" + "filler " * 3000 + f"\n{bearer}\n").encode()


class _Hostile(tornado.web.RequestHandler):
    def initialize(self, up: HostileUpstream) -> None:
        self.up = up

    def bearer(self) -> str:
        return (self.request.headers.get("Authorization") or "").removeprefix("Bearer ")

    def leak_headers(self, bearer: str) -> None:
        parts = jwt_parts(bearer)
        self.set_header("ETag", f'"{bearer}"')
        self.set_header("X-Leak", bearer)
        self.set_header("X-Log-Size", parts[-1])
        self.set_header("Last-Modified", parts[0])

    async def send_json(self, data: Any, status: int = 200) -> None:
        bearer = self.bearer()
        self.set_status(status, f"OK {jwt_parts(bearer)[-1]}" if status == 200 else None)
        self.set_header("Content-Type", "application/json")
        self.leak_headers(bearer)
        body = hostile_json(data, bearer)
        # streamed in small pieces: a token straddles chunk boundaries
        step = 97
        for at in range(0, len(body), step):
            self.write(body[at : at + step])
            await self.flush()
        self.finish()

    async def get(self, path: str) -> None:
        bearer = self.bearer()
        self.up.seen.append(self.request.uri or "")
        leak = leak_text(bearer)
        sig = jwt_parts(bearer)[-1]
        if "slow" in path:
            await self.trickle()
        elif path == "healthz":
            await self.send_json({"multi_user": True, "commit_sha": leak})
        elif path == f"runs/{RUN}":
            await self.send_json(
                {
                    "run_id": RUN,
                    "display_name": f"run {bearer}",
                    "description": leak,
                    "experiment_id": EXPERIMENT,
                    "state": "SUCCEEDED",
                    "error": {"code": 2, "message": leak},
                    "pipeline_spec": _spec(bearer, sig),
                    "runtime_config": {"parameters": {"secret": bearer, "escaped": "@ESC@"}},
                    "run_details": {
                        "task_details": [
                            {"task_id": TASK, "display_name": f"step {sig}", "state": "SUCCEEDED"}
                        ]
                    },
                }
            )
        elif path == f"experiments/{EXPERIMENT}":
            await self.send_json(
                {"experiment_id": EXPERIMENT, "namespace": NAMESPACE, "display_name": leak}
            )
        elif path == "tasks":
            await self.send_json({"tasks": [self.task(bearer)]})
        elif path == "artifact_tasks":
            await self.send_json({"artifact_tasks": [{"artifact_id": ARTIFACT, "run_id": RUN}]})
        elif path == f"artifacts/{ARTIFACT}":
            await self.send_json(
                {"artifact_id": ARTIFACT, "name": leak, "uri": f"file:///d/{bearer}/r{sig}.md"}
            )
        elif path == f"artifacts/{ARTIFACT}/content":
            await self.content(bearer)
        elif path == f"pipelines/{PIPELINE}":
            await self.send_json(
                {"pipeline_id": PIPELINE, "display_name": leak, "namespace": NAMESPACE}
            )
        elif path == f"pipelines/{PIPELINE}/versions":
            await self.send_json({"pipeline_versions": [self.version(V2), self.version(V1)]})
        elif path in (f"pipelines/{PIPELINE}/versions/{V1}", f"pipelines/{PIPELINE}/versions/{V2}"):
            await self.send_json(self.version(path.rsplit("/", 1)[1]))
        elif path == "pipelines" and self.get_query_argument("page_token", "") == "slow":
            await self.trickle()
        elif path == "pipelines":
            await self.send_json(
                {"pipelines": [{"pipeline_id": PIPELINE, "display_name": leak, "note": "@ESC@"}]}
            )
        elif path == f"runs/{RUN}/tasks/{TASK}/logs":
            self.set_header("Content-Type", "text/plain")
            self.set_header("X-Log-Next-Offset", f"not-a-number-{sig}")
            self.set_header("X-Log-Complete", "maybe")
            self.up.log_reads += 1
            self.finish(f"a log line {leak}\n")
        else:
            await self.send_json({"code": 13, "message": f"gateway: {leak}"}, 500)

    def task(self, bearer: str) -> dict[str, Any]:
        sig = jwt_parts(bearer)[-1]
        return {
            "task_id": TASK,
            "name": "step",
            "display_name": f"step {sig}",
            "state": "SUCCEEDED",
            "outputs": {
                "parameters": [
                    {"parameter_key": "answer", "value": leak_text(bearer)},
                    {"parameter_key": "escaped", "value": "@ESC@"},
                    {"parameter_key": f"key-{sig}", "value": 1},
                ],
                "artifacts": [
                    {
                        "artifact_key": "report",
                        "artifacts": [
                            {
                                "artifact_id": ARTIFACT,
                                "name": "report",
                                "schema_title": "system.Markdown",
                                "uri": f"file:///d/{bearer}/report.md",
                                "metadata": {"note": leak_text(bearer), "esc": "@ESC@"},
                                "size": len(markdown(bearer)),
                            }
                        ],
                    }
                ],
            },
        }

    def version(self, ident: str) -> dict[str, Any]:
        bearer = self.bearer()
        default = jwt_parts(bearer)[-1] if ident == V1 else bearer
        return {
            "pipeline_id": PIPELINE,
            "pipeline_version_id": ident,
            "display_name": f"{ident} {leak_text(bearer)}",
            "created_at": "2026-12-01T00:00:00Z" if ident == V1 else "2026-12-02T00:00:00Z",
            "pipeline_spec": _spec(bearer, default),
        }

    async def content(self, bearer: str) -> None:
        data = markdown(bearer)
        start, end = 0, len(data) - 1
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.request.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else end, len(data) - 1)
            self.set_status(206)
            self.set_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.set_header("Content-Type", "text/markdown")
        self.set_header("Content-Length", str(end - start + 1))
        self.set_header(
            "Content-Disposition", f"attachment; filename*=UTF-8''{quote(bearer)}\"; x=1"
        )
        self.leak_headers(bearer)
        piece = data[start : end + 1]
        for at in range(0, len(piece), 61):
            self.write(piece[at : at + 61])
            await self.flush()
        self.finish()

    async def trickle(self) -> None:
        """An answer that starts at once, then sends a byte every ``trickle_s`` seconds."""
        self.set_header("Content-Type", "application/json")
        self.write(b"{")
        await self.flush()
        for _ in range(1000):
            await asyncio.sleep(self.up.trickle_s)
            self.write(b" ")
            await self.flush()
        self.finish(b"}")


class HostileUpstream(_Threaded):
    def __init__(self, trickle_s: float = 5.0) -> None:
        self.seen: list[str] = []
        self.log_reads = 0
        self.trickle_s = trickle_s

    def _app(self) -> tornado.web.Application:
        return tornado.web.Application([(r"/apis/v2beta1/(.*)", _Hostile, {"up": self})])


def windows(secret: str, size: int = 16) -> set[str]:
    """Every ``size``-character piece of ``secret``: none may reach a user."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def leaked(text: str | bytes, bearer: str, size: int = 16) -> list[str]:
    """Pieces of ``bearer`` (any ``size`` characters of a JWT part, or of its base64 forms)
    found in ``text``; JSON in it is also read through its escapes."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    texts = [text]
    try:
        texts.append(json.dumps(json.loads(text), ensure_ascii=False))
    except ValueError:
        pass
    found = []
    for part in jwt_parts(bearer):
        pieces = windows(part, size)
        pieces |= windows(base64.b64encode(part.encode()).decode()[2:-4], size)
        for t in texts:
            found.extend(p for p in pieces if p in t)
    return found
