"""Messages a user can act on when a stack refuses us or TLS fails."""

from __future__ import annotations

import re

from jupyter_dsp.connection.model import Connection, Space

# how KFP's API server reports a refused SubjectAccessReview (resource_manager.IsAuthorized):
# "... is not authorized with reason: ... (request: &ResourceAttributes{Namespace:kubeflow,
# Verb:create,Group:pipelines.kubeflow.org,Version:v1beta1,Resource:pipelines,...})"
SAR_ATTRIBUTES = re.compile(r"ResourceAttributes\{([^{}]*)\}")
SAR_USER = re.compile(r"User '([^']{1,253})' is not authorized")
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,252}$")


def sar_grant(upstream: str, who: str) -> str | None:
    """The missing grant a refused SubjectAccessReview names, with the RoleBinding to ask an
    administrator for; None when the message carries no ResourceAttributes."""
    found = SAR_ATTRIBUTES.search(upstream or "")
    if not found:
        return None
    attrs: dict[str, str] = {}
    for part in found.group(1).split(","):
        key, _, value = part.partition(":")
        if key.strip():
            attrs[key.strip()] = value.strip()
    user = SAR_USER.search(upstream)
    who = user.group(1) if user else who  # the identity the API server saw
    verb, resource = attrs.get("Verb", ""), attrs.get("Resource", "")
    if not verb or not resource:
        return None
    group = attrs.get("Group") or "pipelines.kubeflow.org"
    sub = attrs.get("Subresource") or ""
    namespace = attrs.get("Namespace") or ""
    where = f"in namespace {namespace}" if namespace else "cluster-wide"
    full = f"{group}/{resource}" + (f"/{sub}" if sub else "")
    text = (
        f"Missing grant (the API server's SubjectAccessReview): verb '{verb}' on {full} "
        f"{where} for {who}."
    )
    if not all(SAFE_NAME.match(v) for v in (verb, resource, group, who) if v) or not namespace:
        return text + " Ask an administrator for a (Cluster)RoleBinding that grants it."
    subject = (
        f"--serviceaccount={who.split(':', 2)[2]}"
        if who.startswith("system:serviceaccount:") and who.count(":") == 3
        else f"--user={who}"
    )
    role = f"kfp-{resource}-{verb}"
    target = f"{resource}.{group}" + (f"/{sub}" if sub else "")
    return (
        f"{text} Ask an administrator of namespace {namespace} for a RoleBinding that binds "
        f"you to a Role allowing it, e.g.: kubectl -n {namespace} create role {role} "
        f"--verb={verb} --resource={target} && kubectl -n {namespace} create rolebinding "
        f"{role} --role={role} {subject}"
    )


VERB_BY_METHOD = {
    "GET": "get",
    "HEAD": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


def kfp_resource(path: str) -> str:
    """``pipelines``, ``experiments``, ``runs`` ... from an ``apis/v2beta1/...`` path."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[2].split(":")[0]
    return parts[0] if parts else ""


def denied_message(
    conn: Connection, space: Space, status: int, method: str, path: str, upstream: str
) -> str:
    """Who the stack saw, what it said, and which grant would fix it."""
    who = conn.identity
    verb = VERB_BY_METHOD.get(method.upper(), method.lower())
    resource = kfp_resource(path)
    ns = space.namespace or conn.namespace
    head = f"The {space.name} pipeline stack at {space.endpoint_host} answered {status} for {who}"
    if upstream:
        head += f": {upstream.strip()}"
    if status == 401:
        if conn.mode == "cluster-kubeflow":
            fix = (
                "The token was not accepted. Kubeflow needs a token with audience "
                "pipelines.kubeflow.org: add the PodDefault 'access-ml-pipeline' to the notebook "
                "(token at /var/run/secrets/kubeflow/pipelines/token) or set "
                "KF_PIPELINES_SA_TOKEN_PATH."
            )
        elif conn.mode == "embedded":
            fix = (
                "The embedded stack did not accept the token; create one with "
                "'jupyter-dsp stack token create' and set JUPYTER_DSP_TOKEN_FILE."
            )
        else:
            fix = (
                f"The token ({space.token_source or 'none found'}) was not accepted; check "
                "that it has not expired and set JUPYTER_DSP_TOKEN_FILE to a valid token file."
            )
        return f"{head}. {fix}"
    # 403
    if conn.mode == "cluster-dspa" or (space.name == "shared" and not space.multi_user):
        dspa = conn.dspa_name or "dspa"
        target_ns = ns if space.name == "project" else "the catalog namespace"
        fix = (
            f"Missing grant: verb '{verb}' on resource "
            f"datasciencepipelinesapplications/api '{dspa}' (group "
            f"datasciencepipelinesapplications.opendatahub.io) in namespace {target_ns}; "
            f"bind the Role ds-pipeline-user-access-{dspa} to {who}."
        )
    elif conn.mode == "embedded":
        need = "view" if verb == "get" else "edit"
        scope = "shared" if space.name == "shared" else f"namespace {ns}"
        fix = (
            f"Missing grant: '{need}' on {scope} for {who}; issue a token with it using "
            "'jupyter-dsp stack token create'."
        )
    elif (grant := sar_grant(upstream, who)) is not None:
        fix = grant
    else:
        scope = (
            "the KFP system namespace (writes to shared pipelines)"
            if space.name == "shared"
            else f"namespace {ns}"
        )
        fix = (
            f"Missing grant: verb '{verb}' on {resource} (group pipelines.kubeflow.org) in "
            f"{scope} for {who}; ask the namespace owner to add you as a contributor."
        )
    return f"{head}. {fix}"


def tls_message(space: Space, reason: str) -> str:
    if space.ca_bundle:
        tried = f"CA bundle {space.ca_bundle} (from {space.ca_source})"
    else:
        tried = "the system CA store (no CA bundle configured or found)"
    return (
        f"TLS verification of {space.endpoint_host} failed using {tried}: {reason}. "
        "Point JUPYTER_DSP_CA_BUNDLE (or KF_PIPELINES_SSL_SA_CERTS) at the CA that signed "
        "the stack's certificate."
    )
