"""Downloading ``package_url.pipeline_url`` for the JSON create endpoints, as KFP does.

Only http and https URLs are fetched (never local files); the download is limited to the
same 32 MB as uploads and then validated like an upload.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlparse

from jupyter_dsp.stack.errors import invalid_argument, too_large
from jupyter_dsp.stack.pipelinespec import MAX_PACKAGE_BYTES, ParsedSpec, parse_upload

FETCH_TIMEOUT_S = 30


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects to http(s) only (urllib would also follow ftp)."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str):  # noqa: ANN201
        if urlparse(newurl).scheme not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-http URL", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_HttpOnlyRedirects)


def fetch_package(package_url: Any) -> ParsedSpec:
    if not isinstance(package_url, dict) or not package_url.get("pipeline_url"):
        raise invalid_argument("package_url.pipeline_url is required")
    unknown = set(package_url) - {"pipeline_url"}
    if unknown:
        raise invalid_argument(f"Unknown field {sorted(unknown)[0]!r} in package_url")
    url = str(package_url["pipeline_url"])
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise invalid_argument(f"invalid pipeline spec URL: {url} (http or https only)")
    try:
        with _opener.open(url, timeout=FETCH_TIMEOUT_S) as response:
            data = response.read(MAX_PACKAGE_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise invalid_argument(
            f"error fetching pipeline spec from {url} - request returned {exc.code}"
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise invalid_argument(f"error downloading the pipeline spec from {url}: {exc}") from None
    if len(data) > MAX_PACKAGE_BYTES:
        raise too_large(f"The pipeline at {url} is larger than {MAX_PACKAGE_BYTES} bytes")
    filename = parsed.path.rsplit("/", 1)[-1]
    if not filename.lower().endswith((".yaml", ".yml", ".json", ".zip", ".gz", ".tgz")):
        filename = "pipeline.yaml"  # a URL without extension: read the content as YAML
    return parse_upload(filename, data)
