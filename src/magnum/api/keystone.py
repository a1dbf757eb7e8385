# SPDX-License-Identifier: Apache-2.0
"""auth_strategy = keystone: keystonemiddleware's auth_token in front of the application.

auth_token validates the request's X-Auth-Token with Keystone (and caches the answer for
[keystone_authtoken] token_cache_time seconds, 300 by default: a revoked token keeps
working that long in a process that saw it), strips every identity header a caller sent,
and sets the validated ones (X-Project-Id, X-User-Id, X-Roles, ...), from which
magnum.api.middleware.KeystoneContext builds the request context.

Its refusals are answered by the application, in Magnum's `{"errors": [...]}` shape with
the request id and version headers of any answer: auth_token only marks the request
(FAILURE), the application raises NotAuthenticated (401; auth_token adds its
`WWW-Authenticate: Keystone uri="..."` to every 401) or IdentityUnavailable (503 with
Retry-After: Keystone cannot be reached, or fails). A marked request is never served,
except the version documents and the OpenAPI document (middleware.PUBLIC_PATHS).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import webob.exc
from keystoneauth1 import exceptions as ksa_exceptions
from keystonemiddleware import auth_token
from oslo_config import cfg

from magnum import conf as magnum_conf
from magnum.api import middleware

LOG = logging.getLogger(__name__)

# The WSGI environ key auth_token's refusal leaves for the application (see the module).
FAILURE = middleware.KEYSTONE_FAILURE
UNAUTHENTICATED = "unauthenticated"
UNAVAILABLE = middleware.KEYSTONE_UNAVAILABLE

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class _AuthToken(auth_token.AuthProtocol):  # type: ignore[misc]  # untyped
    """auth_token whose refusals the application answers (see the module)."""

    def process_request(self, request: Any) -> Any:
        try:
            return super().process_request(request)
        except webob.exc.HTTPUnauthorized:
            request.environ[FAILURE] = UNAUTHENTICATED
        except webob.exc.HTTPServiceUnavailable:
            request.environ[FAILURE] = UNAVAILABLE
        except ksa_exceptions.ClientException as exc:  # e.g. no identity endpoint in the catalog
            LOG.error("cannot validate a token with Keystone: %s", exc)
            request.environ[FAILURE] = UNAVAILABLE
        return None


def wrap(app: WsgiApp, conf: cfg.ConfigOpts) -> WsgiApp:
    """`app` behind auth_token, configured by `conf`'s [keystone_authtoken]."""
    magnum_conf.register_keystone(conf)
    protocol: WsgiApp = _AuthToken(app, {"oslo_config_config": conf})

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return protocol(environ, start_response)

    return application
