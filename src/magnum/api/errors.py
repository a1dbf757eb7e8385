# SPDX-License-Identifier: Apache-2.0
"""The one place that turns errors into HTTP responses, in Magnum's `{"errors": [...]}` shape.

Every error element carries `request_id`, `code` ("client" for 4xx, "server" for
5xx), `status`, `title` (the message up to its first full stop, as Magnum's
middleware did), `detail` (the whole message) and `links`. An error that names a
`retry_after` (a service the API needs is away: the database, the conductors) also
answers a Retry-After header.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import falcon

from magnum.common import exceptions

LOG = logging.getLogger(__name__)


def element(
    status: int,
    detail: str,
    *,
    request_id: str = "",
    title: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    if title is None:
        title = detail.split(".", 1)[0] if detail else ""
    if code is None:
        code = "client" if 400 <= status < 500 else "server"
    return {
        "request_id": request_id,
        "code": code,
        "status": status,
        "title": title,
        "detail": detail,
        "links": [],
    }


def respond(resp: falcon.Response, status: int, elements: Sequence[dict[str, Any]]) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps({"errors": list(elements)})


class ValidationFailed(exceptions.Invalid):
    """Several field errors found at once; each becomes an element of the error body."""

    template = "{first}"

    def __init__(self, messages: Sequence[str]) -> None:
        super().__init__(first=messages[0])
        self.messages = [exceptions.shorten(m, exceptions.MESSAGE_LIMIT) for m in messages]


def _request_id(req: falcon.Request) -> str:
    return str(req.context.get("request_id", ""))


def handle_magnum(
    req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]
) -> None:
    assert isinstance(exc, exceptions.MagnumError)
    messages = exc.messages if isinstance(exc, ValidationFailed) else [exc.message]
    if exc.status >= 500:
        LOG.error("request %s failed: %s", _request_id(req), exc)
    if (retry_after := getattr(exc, "retry_after", None)) is not None:  # 503: a service is away
        resp.set_header("Retry-After", str(retry_after))
    rid = _request_id(req)
    respond(resp, exc.status, [element(exc.status, m, request_id=rid) for m in messages])


def handle_http(
    req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]
) -> None:
    """Framework errors (unknown URL, wrong method): Magnum answered these with code "" and,
    as the framework supplied no description, an empty detail."""
    assert isinstance(exc, falcon.HTTPError)
    status = falcon.http_status_to_code(exc.status)
    title = exc.title or ""
    if title[:3].isdigit():  # Falcon titles read "404 Not Found"; Magnum's read "Not Found"
        title = title[4:]
    detail = exc.description or ""
    if exc.headers:
        resp.set_headers(exc.headers)
    respond(
        resp, status, [element(status, detail, title=title, code="", request_id=_request_id(req))]
    )


def handle_unexpected(
    req: falcon.Request, resp: falcon.Response, exc: Exception, params: dict[str, Any]
) -> None:
    LOG.exception("request %s: unexpected error", _request_id(req))
    detail = "An unexpected error occurred. The request id names it in the server log."
    respond(resp, 500, [element(500, detail, request_id=_request_id(req))])


def install(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(falcon.HTTPError, handle_http)
    app.add_error_handler(exceptions.MagnumError, handle_magnum)
