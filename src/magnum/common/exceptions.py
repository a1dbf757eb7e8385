# SPDX-License-Identifier: Apache-2.0
"""Errors raised inside magnum.

* MagnumError (500)
  + Invalid (400)                 InvalidParameterValue, InvalidUUID, PatchError,
  |                               BayModelReferenced, NotSupported, BayTypeNotEnabled,
  |                               ImageNotAvailable
  + NotAuthorized (403)           PolicyNotAuthorized, BaymodelPublishDenied
  + NotFound (404)                BayNotFound, BayModelNotFound, MagnumServiceNotFound,
  |                               ContainerNotFound
  + NotAcceptable (406)
  + Conflict (409)                AmbiguousName, BayAlreadyExists, BayModelAlreadyExists,
  |                               OperationInProgress, InvalidState, ContainerAlreadyExists,
  |                               NodeUnavailable
  + DriverError (500)             DriverNotFound, DriverConflict, BayOperationFailed
    + RetryLater                  the conductor tries again; never reaches the API

Errors cross RPC calls intact (same class, fields and status) when their fields are
JSON values. Messages are safe to show to API users: they name the resource and the problem,
never a stack trace or a secret. Only magnum.api.errors knows about HTTP bodies;
`status` here is the HTTP status the API answers with.
"""

from __future__ import annotations

import string
from typing import ClassVar


class MagnumError(Exception):
    status: ClassVar[int] = 500
    template: ClassVar[str] = "An unexpected error occurred."
    _fields: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls._fields = frozenset(
            name for _, name, _, _ in string.Formatter().parse(cls.template) if name
        )

    def __init__(self, *_message: object, **fields: object) -> None:
        # `_message` is ignored: oslo.messaging rebuilds a remote error as
        # cls(*exc.args, **exc.kwargs), and the fields alone make the message again.
        if unknown := set(fields) ^ self._fields:
            raise TypeError(f"{type(self).__name__}: bad fields {sorted(unknown)}")
        self.fields = fields
        self.kwargs = fields  # what oslo.messaging sends so the caller can rebuild this error
        super().__init__(self.template.format(**fields))

    @property
    def message(self) -> str:
        return str(self.args[0])


# --- 400 -------------------------------------------------------------------
class Invalid(MagnumError):
    status = 400
    template = "Unacceptable parameters."


class InvalidParameterValue(Invalid):
    template = "{err}"


class InvalidUUID(Invalid):
    template = "Expected a uuid but received {uuid}."


class PatchError(Invalid):
    template = "Couldn't apply patch '{patch}'. Reason: {reason}"


class BayModelReferenced(Invalid):
    template = "Baymodel {baymodel} is referenced by one or multiple bays."


class NotSupported(Invalid):
    template = "{operation} is not supported."


class BayTypeNotEnabled(Invalid):
    template = "Bay type ({server_type}, {os}, {coe}) not enabled."


class ImageNotAvailable(Invalid):
    template = "Image {image} is not available in bay {bay}{why}."


class BodyTooLarge(MagnumError):
    status = 413
    template = "Request body is larger than {limit} bytes."


class ImageTooLarge(BodyTooLarge):
    template = "The image archive is larger than {limit} bytes ([api] max_image_size)."


class UnsupportedMediaType(MagnumError):
    status = 415
    template = "Unknown mimetype: {mimetype}"


# --- 403 -------------------------------------------------------------------
class NotAuthorized(MagnumError):
    status = 403
    template = "Not authorized."


class PolicyNotAuthorized(NotAuthorized):
    template = "Policy doesn't allow {action} to be performed."


class BaymodelPublishDenied(NotAuthorized):
    template = "Not authorized to set public flag for baymodel."


# --- 404 -------------------------------------------------------------------
class NotFound(MagnumError):
    status = 404
    template = "The {name} resource {id} could not be found."


class BayNotFound(NotFound):
    template = "Bay {bay} could not be found."


class BayModelNotFound(NotFound):
    template = "Baymodel {baymodel} could not be found."


class MagnumServiceNotFound(NotFound):
    template = "A magnum service {magnum_service_id} could not be found."


class ContainerNotFound(NotFound):
    template = "Container {container} could not be found."


# --- 406 -------------------------------------------------------------------
class NotAcceptable(MagnumError):
    status = 406
    template = "{detail}"


# --- 409 -------------------------------------------------------------------
class Conflict(MagnumError):
    status = 409
    template = "Conflict."


class AmbiguousName(Conflict):
    template = "Multiple {kind}s exist with same name. Please use the {kind} uuid instead."


class BayAlreadyExists(Conflict):
    template = "A bay with UUID {uuid} already exists."


class BayModelAlreadyExists(Conflict):
    template = "A baymodel with UUID {uuid} already exists."


class ContainerAlreadyExists(Conflict):
    template = "A container with UUID {uuid} already exists."


class NodeUnavailable(Conflict):
    """A bay node that holds a container does not answer (or no longer exists)."""

    template = "{detail}"


class OperationInProgress(Conflict):
    template = "Bay {bay_name} already has an operation in progress."


class InvalidState(Conflict):
    template = "{detail}"


# --- 500: drivers and the conductor ----------------------------------------
class DriverError(MagnumError):
    template = "{reason}"


class DriverNotFound(DriverError):
    template = "No driver named {names} is installed in group {group}."


class DriverConflict(DriverError):
    template = "Drivers {first} and {second} both provide {what}."


class BayOperationFailed(DriverError):
    template = "{reason}"


class RetryLater(DriverError):
    template = "{reason}"

    def __init__(self, *, reason: str, delay: float = 5.0) -> None:
        super().__init__(reason=reason)
        self.delay = delay


class LeaseLost(MagnumError):
    template = "The lease on bay {bay} is no longer held by {owner}."
