# SPDX-License-Identifier: Apache-2.0
"""Errors raised inside magnum.

* MagnumError (500)
  + Invalid (400)                 InvalidParameterValue, InvalidUUID, PatchError,
  |                               ClusterTemplateReferenced, NotSupported, ClusterTypeNotEnabled,
  |                               ImageNotAvailable
  | + NotSupported                CapabilityNotOffered (the COE driver lacks containers, ...)
  + NotAuthenticated (401)        Keystone: no valid token (the API adds WWW-Authenticate)
  + NotAuthorized (403)           PolicyNotAuthorized, ClusterTemplatePublishDenied
  + NotFound (404)                ClusterNotFound, ClusterTemplateNotFound, MagnumServiceNotFound,
  |                               ContainerNotFound, PodNotFound, ServiceNotFound,
  |                               ReplicationControllerNotFound, WorkloadNotFound (the
  |                               cluster's own API has no such object: its message)
  + NotAcceptable (406)
  + Conflict (409)                AmbiguousName, ClusterAlreadyExists, ClusterTemplateAlreadyExists,
  |                               OperationInProgress, InvalidState, ContainerAlreadyExists,
  |                               NodeUnavailable
  | + NodeUnavailable             NodeGone (the node no longer exists)
  | + WorkloadConflict            the cluster's own API refused a write as a conflict
  | + InvalidState                EngineNotFound (a node's engine has no such object)
  + WorkloadAPIError (its status) the cluster's own API refused a workload call with a
  |                               status no other error names (its status and message)
  + TooBusy (503)                 execute/logs slots all taken (the API adds Retry-After)
  | + IdentityUnavailable         Keystone cannot validate tokens now
  + ContainerTimedOut (504)       a command in a container passed its time limit
  + DriverError (500)             DriverNotFound, DriverConflict, InvalidTransition
  | + ClusterOperationFailed      DeadlineExceeded, NodeStartFailed
  | + RetryLater                  the conductor tries again until the deadline; never
  |                               reaches the API. OutOfSequence (an engine object changed
  |                               between read and update)
  + OperationInterrupted          LeaseLost, Superseded (objects.clusters): the operation
                                  is no longer this conductor's; never reaches the API

Where the two API vocabularies differ, a Bay* subclass words the same error for /v1/bays
(see magnum.objects.vocabulary). Errors cross RPC calls intact (same class, fields and
status) when their fields are JSON values. Messages are safe to show to API users: they
name the resource and the problem, never a stack trace, a secret or a host directory
(magnum.common.hostpaths). Only magnum.api.errors knows about HTTP bodies; `status` here
is the HTTP status the API answers with.
"""

from __future__ import annotations

import string
from typing import ClassVar

from magnum.common import hostpaths

# A value a message shows (an identifier, a header, a query argument: often the caller's own
# input) is cut to ECHO_LIMIT characters; a field that is the whole message, to MESSAGE_LIMIT.
ECHO_LIMIT = 255
MESSAGE_LIMIT = 1024


def shorten(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` as an error message shows it: at most `limit` characters, then an ellipsis."""
    text = str(value)
    return text if len(text) <= limit else f"{text[:limit]}\u2026"


class MagnumError(Exception):
    status: ClassVar[int] = 500
    template: ClassVar[str] = "An unexpected error occurred."
    _fields: ClassVar[frozenset[str]] = frozenset()
    _limit: ClassVar[int] = ECHO_LIMIT

    def __init_subclass__(cls, **kw: object) -> None:
        super().__init_subclass__(**kw)
        cls._fields = frozenset(
            name for _, name, _, _ in string.Formatter().parse(cls.template) if name
        )
        whole = [f"{{{name}}}" for name in cls._fields] == [cls.template]
        cls._limit = MESSAGE_LIMIT if whole else ECHO_LIMIT

    def __init__(self, *_message: object, **fields: object) -> None:
        # `_message` is ignored: oslo.messaging rebuilds a remote error as
        # cls(*exc.args, **exc.kwargs), and the fields alone make the message again.
        if unknown := set(fields) ^ self._fields:
            raise TypeError(f"{type(self).__name__}: bad fields {sorted(unknown)}")
        # The host's own directories never show (magnum.common.hostpaths); then, bounded,
        # so that no input makes an error (or its RPC form) large.
        fields = {k: hostpaths.scrub(v) if isinstance(v, str) else v for k, v in fields.items()}
        fields = {
            k: v if len(str(v)) <= self._limit else shorten(v, self._limit)
            for k, v in fields.items()
        }
        self.fields = fields
        self.kwargs = fields  # what oslo.messaging sends so the caller can rebuild this error
        super().__init__(self.template.format(**fields))

    @property
    def message(self) -> str:
        return str(self.args[0])

    @property
    def code(self) -> str:
        """A stable error code for this failure (the timeline's `error_code`)."""
        return type(self).__name__


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


class ClusterTemplateReferenced(Invalid):
    template = "ClusterTemplate {cluster_template} is referenced by one or multiple clusters."


class BayModelReferenced(ClusterTemplateReferenced):
    template = "Baymodel {cluster_template} is referenced by one or multiple bays."


class NotSupported(Invalid):
    template = "{operation} is not supported."


class ClusterTypeNotEnabled(Invalid):
    template = "Bay type ({server_type}, {os}, {coe}) not enabled."


class QuotaExceeded(Invalid):
    """A resize beyond the project's quota (400: the request asks for too much)."""

    template = "Resource limit exceeded: {msg}"


class CapacityExceeded(Invalid):
    """More nodes than the infrastructure holds, all clusters together."""

    template = "{detail}"


class ImageNotAvailable(Invalid):
    template = "Image {image} is not available in bay {cluster}{why}."


class CapabilityNotOffered(NotSupported):
    """The cluster's COE driver offers no such capability (magnum.drivers.capabilities),
    or no enabled driver provides its COE."""

    template = "Cannot fulfill request with a {coe} bay: its COE driver offers no {capability}."


class BodyTooLarge(MagnumError):
    status = 413
    template = "Request body is larger than {limit} bytes."


class ImageTooLarge(BodyTooLarge):
    template = "The image archive is larger than {limit} bytes ([api] max_image_size)."


class ImageUnpackedTooLarge(BodyTooLarge):
    template = (
        "The image archive unpacks to more than {limit} bytes ([api] max_image_unpacked_size)."
    )


class ImageHasTooManyMembers(BodyTooLarge):
    template = "The image archive holds more than {limit} files ([api] max_image_members)."


class UnsupportedMediaType(MagnumError):
    status = 415
    template = "Unknown mimetype: {mimetype}"


# --- 401 -------------------------------------------------------------------
class NotAuthenticated(MagnumError):
    """auth_strategy = keystone: the request carries no token, or one Keystone does not
    accept (garbage, expired, revoked). The answer also names Keystone in WWW-Authenticate."""

    status = 401
    template = (
        "Authentication required. The request carries no valid token (X-Auth-Token): get one "
        "from Keystone."
    )


# --- 403 -------------------------------------------------------------------
class NotAuthorized(MagnumError):
    status = 403
    template = "Not authorized."


class PolicyNotAuthorized(NotAuthorized):
    template = "Policy doesn't allow {action} to be performed."


class ResourceLimitExceeded(NotAuthorized):
    """A create beyond the project's quota (403, as in Magnum)."""

    template = "Resource limit exceeded: {msg}"


class ClusterTemplatePublishDenied(NotAuthorized):
    template = "Not authorized to set public or hidden flag for cluster template."


class BaymodelPublishDenied(ClusterTemplatePublishDenied):
    template = "Not authorized to set public flag for baymodel."


# --- 404 -------------------------------------------------------------------
class NotFound(MagnumError):
    status = 404
    template = "The {name} resource {id} could not be found."

    @classmethod
    def of(cls, ident: str) -> NotFound:
        """The error for `ident`, for a subclass whose template has one field."""
        (field,) = cls._fields
        return cls(**{field: ident})


class RemovedInVersion(NotFound):
    template = (
        "The requested API {what} was removed in microversion {version}; ask for an earlier "
        "version, or use its successor (bays are clusters, baymodels cluster templates)."
    )


class ClusterNotFound(NotFound):
    template = "Cluster {cluster} could not be found."


class BayNotFound(ClusterNotFound):
    template = "Bay {cluster} could not be found."


class ClusterTemplateNotFound(NotFound):
    template = "ClusterTemplate {cluster_template} could not be found."


class BayModelNotFound(ClusterTemplateNotFound):
    template = "Baymodel {cluster_template} could not be found."


class MagnumServiceNotFound(NotFound):
    template = "A magnum service {magnum_service_id} could not be found."


class ContainerNotFound(NotFound):
    template = "Container {container} could not be found."


class PodNotFound(NotFound):
    template = "Pod {pod} could not be found."


class ServiceNotFound(NotFound):
    template = "Service {service} could not be found."


class ReplicationControllerNotFound(NotFound):
    template = "ReplicationController {rc} could not be found."


# Kind of workload (magnum.drivers.capabilities.WorkloadKind) -> its error for a uuid no
# object of the cluster has (Magnum looked uuids up among the objects it listed).
WORKLOAD_NOT_FOUND: dict[str, type[NotFound]] = {
    "pod": PodNotFound,
    "service": ServiceNotFound,
    "replicationcontroller": ReplicationControllerNotFound,
}


class WorkloadNotFound(NotFound):
    """The cluster's own API (Kubernetes) has no such object; `detail` is its message
    (`pods "web" not found`), which Magnum passed on as it was."""

    template = "{detail}"


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


class ClusterAlreadyExists(Conflict):
    template = "A cluster with UUID {uuid} already exists."


class ClusterTemplateAlreadyExists(Conflict):
    template = "A cluster template with UUID {uuid} already exists."


class BayModelAlreadyExists(ClusterTemplateAlreadyExists):
    template = "A baymodel with UUID {uuid} already exists."


class ContainerAlreadyExists(Conflict):
    template = "A container with UUID {uuid} already exists."


class NodeUnavailable(Conflict):
    """A node's engine does not answer (magnum.drivers.coe.docker_errors maps every
    connection failure to it), or the node no longer exists."""

    template = "{detail}"


class NodeGone(NodeUnavailable):
    """The node that holds a container no longer exists (the cluster shrank)."""


class OperationInProgress(Conflict):
    template = "Cluster {cluster_name} already has an operation in progress."


class BayOperationInProgress(OperationInProgress):
    template = "Bay {cluster_name} already has an operation in progress."


class InvalidState(Conflict):
    template = "{detail}"


class WorkloadConflict(Conflict):
    """The cluster's own API refused a write as a conflict (an object of that name exists,
    or changed meanwhile); `detail` is its message."""

    template = "{detail}"


class EngineNotFound(InvalidState):
    """A node's engine answered that it has no such object (container, image, swarm node)."""


# --- the cluster's own API: its status -----------------------------------------
class WorkloadAPIError(MagnumError):
    """The cluster's own API (Kubernetes) refused a workload call with a status that no
    other error names: the API answers with that status and the cluster's message, as
    Magnum's KubernetesAPIFailed did, when it is one of PASSED (too many requests, the
    cluster's API failing or away); any other (a request Magnum should not have made) is
    answered as 500."""

    PASSED: ClassVar[frozenset[int]] = frozenset({429, 500, 502, 503, 504})
    template = "{detail}"

    def __init__(self, *_message: object, detail: str, http_status: int = 500) -> None:
        super().__init__(detail=detail)
        code = int(http_status)
        self._status = code if code in self.PASSED else 500
        self.kwargs = {**self.fields, "http_status": self._status}  # rebuilt across RPC

    @property
    def status(self) -> int:  # type: ignore[override]  # an instance's own, not its class's
        return self._status


# --- 503, 504: bounded calls ------------------------------------------------
class TooBusy(MagnumError):
    """Every slot for a kind of call whose length the tenant decides (container execute
    and logs) is taken, in this API process or on the conductor. The API answers 503
    with Retry-After: `retry_after` seconds."""

    status = 503
    template = "{detail} Try again in {retry_after} seconds."

    @property
    def retry_after(self) -> int:
        return int(str(self.fields["retry_after"]))


class IdentityUnavailable(TooBusy):
    """auth_strategy = keystone and Keystone cannot be reached (or fails) to validate a
    token: 503 with Retry-After; no request is served unauthenticated."""

    template = "The identity service (Keystone) is unavailable. Try again in {retry_after} seconds."


class ContainerTimedOut(MagnumError):
    """A command run in a container (or the reading of its logs) passed its time limit;
    the message says whether its processes were killed (504: the container, upstream of
    the API, did not answer in time)."""

    status = 504
    template = "{detail}"


# --- 500: drivers and the conductor ----------------------------------------
class DriverError(MagnumError):
    template = "{reason}"


class DriverNotFound(DriverError):
    template = "No driver named {names} is installed in group {group}."


class DriverConflict(DriverError):
    template = "Drivers {first} and {second} both provide {what}."


class ClusterOperationFailed(DriverError):
    template = "{reason}"


class DeadlineExceeded(ClusterOperationFailed):
    """The operation ran past its deadline (the cluster's timeout)."""


class NodeStartFailed(ClusterOperationFailed):
    """A node (or its container engine) could not be started."""


class WaitTimedOut(ClusterOperationFailed):
    """Something a driver waits for did not happen in time (magnum.drivers.waiting)."""

    template = "Timed out after {timeout}s: {what}"


class RetryLater(DriverError):
    template = "{reason}"

    def __init__(self, *, reason: str, delay: float = 5.0) -> None:
        super().__init__(reason=reason)
        self.delay = delay


class OutOfSequence(RetryLater):
    """An engine refused an update because the object changed since it was read (Docker's
    "update out of sequence"): read it again and retry."""


class InvalidTransition(DriverError):
    """A settle the state machine forbids (a bug in the caller, never a tenant's doing)."""

    template = "An operation {operation} cannot end in status {status}."


class OperationInterrupted(MagnumError):
    """The conductor must stop working on an operation: it is no longer its own. Never a
    failure of the operation (whoever holds it now carries on); never reaches the API."""

    template = "The operation on cluster {cluster} was interrupted."


class LeaseLost(OperationInterrupted):
    template = "The lease on cluster {cluster} is no longer held by {owner}."
