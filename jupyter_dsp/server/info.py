"""``GET dsp/info``: what the extension is connected to and whether it works."""

from __future__ import annotations

from typing import Any

from tornado.httputil import HTTPHeaders

from jupyter_dsp.common.links import UILinks, ui_links
from jupyter_dsp.connection.explain import denied_message, tls_message
from jupyter_dsp.connection.model import Connection, NoStackFound, Space
from jupyter_dsp.server.errors import upstream_message
from jupyter_dsp.server.state import DSPState
from jupyter_dsp.server.upstream import upstream_headers
from jupyter_dsp.server.upstream_response import BufferSink, UpstreamError

HEALTHZ = "/apis/v2beta1/healthz"


async def space_health(state: DSPState, conn: Connection, space: Space) -> tuple[bool, str | None]:
    sink = BufferSink(limit=1024 * 1024)
    headers = upstream_headers(HTTPHeaders(), space.token())
    try:
        target = state.target(space)
        await state.pool.fetch(
            target, "GET", HEALTHZ, headers, None, sink, state.settings.probe_timeout
        )
    except UpstreamError as exc:
        return False, tls_message(space, str(exc)) if exc.tls else str(exc)
    except (OSError, ValueError) as exc:
        return False, str(exc)
    if sink.code == 200:
        return True, None
    message = upstream_message(sink.body)
    if sink.code in (401, 403):
        return False, denied_message(conn, space, sink.code, "GET", HEALTHZ, message)
    return False, f"healthz answered {sink.code}: {message}"


def _space_json(space: Space, healthy: bool, error: str | None) -> dict[str, Any]:
    return {
        "endpoint_host": space.endpoint_host,
        "namespace": space.namespace,
        "multi_user": space.multi_user,
        "writable": space.writable,
        "managed": space.managed or None,  # "only": the platform's managed pipelines
        "healthy": healthy,
        "error": error,
    }


async def build_info(state: DSPState) -> dict[str, Any]:
    try:
        conn = await state.connection()
    except NoStackFound as exc:
        return _failed(state, str(exc), exc.hint)
    except Exception as exc:  # bad settings or a stack that would not start
        return _failed(
            state,
            str(exc),
            "Check the jupyter-dsp settings (jupyter_dsp_config.py, JUPYTER_DSP_* variables) "
            "and the Jupyter server log.",
        )
    project_ok, project_err = await space_health(state, conn, conn.project)
    shared_json = None
    if conn.shared is not None:
        if conn.shared.endpoint == conn.project.endpoint:
            shared_ok, shared_err = project_ok, project_err
        else:
            shared_ok, shared_err = await space_health(state, conn, conn.shared)
        shared_json = _space_json(conn.shared, shared_ok, shared_err)
    hint = None
    if not project_ok:
        hint = (
            "The project pipeline stack is not answering; check the address and credentials "
            "(JUPYTER_DSP_ENDPOINT, JUPYTER_DSP_TOKEN_FILE, JUPYTER_DSP_CA_BUNDLE)."
        )
        if conn.mode == "embedded":
            state.invalidate()  # restart/reuse on the next request
            hint = "The embedded stack is not answering; it is started again on the next request."
    return {
        "namespace": conn.namespace,
        "mode": conn.mode,
        "identity": conn.identity,
        "policy": conn.policy,
        "healthy": project_ok,
        "error": project_err,
        "hint": hint,
        "spaces": {
            "project": _space_json(conn.project, project_ok, project_err),
            "shared": shared_json,
            "managed": _space_json(conn.managed, project_ok, project_err)
            if conn.managed is not None
            else None,
        },
        "ui": _ui_json(ui_links(conn.mode, conn.namespace, state.settings)),
    }


# placeholders the panel replaces with an id (URL-encoded): the links are made here, by the
# same rule as the kernel's ui_url (common/links.py), never rebuilt in TypeScript
RUN, EXPERIMENT, PIPELINE, VERSION = "RUN_ID_", "EXPERIMENT_ID_", "PIPELINE_ID_", "VERSION_ID_"


def _ui_json(links: UILinks | None) -> dict[str, Any] | None:
    if links is None:
        return None
    return {
        **links.to_json(),
        "templates": {
            "run": links.run(RUN, EXPERIMENT),
            "run_no_experiment": links.run(RUN),
            "pipeline": links.pipeline(PIPELINE),
            "version": links.pipeline(PIPELINE, VERSION),
        },
    }


def _failed(state: DSPState, error: str, hint: str) -> dict[str, Any]:
    policy = state.settings.shared_policy or None
    return {
        "namespace": state.settings.namespace or None,
        "mode": None,
        "identity": None,
        "policy": policy,
        "healthy": False,
        "error": error,
        "hint": hint,
        "spaces": {"project": None, "shared": None, "managed": None},
    }
