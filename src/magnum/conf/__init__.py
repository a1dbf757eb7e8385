# SPDX-License-Identifier: Apache-2.0
"""Configuration: option groups with help text, read once at start-up and passed down.

Nothing here reads configuration at import time. `load()` builds a fresh
`oslo_config.cfg.ConfigOpts`, registers every group and returns it; processes
hand that object to whatever needs it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from oslo_config import cfg

from magnum.conf import kubernetes, local

DEFAULT_OPTS = [
    cfg.StrOpt(
        "host",
        sample_default="<hostname>",
        help="Name of this node, used to identify a conductor in leases and service reports.",
    ),
    cfg.StrOpt(
        "state_path",
        default="/var/lib/magnum",
        help="Directory where bay nodes, certificates and other local state are kept.",
    ),
]

API_OPTS = [
    cfg.HostAddressOpt("host", default="127.0.0.1", help="Address the API listens on."),
    cfg.PortOpt("port", default=9511, help="Port the API listens on."),
    cfg.IntOpt("workers", default=2, min=1, help="Number of API worker processes."),
    cfg.IntOpt(
        "threads",
        default=4,
        min=1,
        help="Threads per API worker (gunicorn gthread workers; threads of the all-in-one server).",
    ),
    cfg.IntOpt(
        "max_limit",
        default=1000,
        min=1,
        help="Largest number of items a collection returns in one response.",
    ),
    cfg.IntOpt(
        "max_body_size",
        default=1048576,
        min=1024,
        help="Largest request body accepted, in bytes; larger bodies get 413. Image uploads "
        "(POST /v1/bays/{bay}/images) have their own limit, max_image_size.",
    ),
    cfg.IntOpt(
        "max_request_line",
        default=8190,
        min=256,
        max=8190,
        help="Longest request line (method, URL with its query, protocol) accepted, in bytes; "
        "a longer one gets 414. 8190 at most (gunicorn's own limit).",
    ),
    cfg.IntOpt(
        "max_header_size",
        default=8190,
        min=256,
        help="Longest request header field (name and value) accepted, in bytes; a longer one "
        "gets 431.",
    ),
    cfg.IntOpt(
        "max_header_count",
        default=100,
        min=16,
        max=32768,
        help="Most request header fields accepted; more get 431.",
    ),
    cfg.IntOpt(
        "max_image_size",
        default=512 * 1024 * 1024,
        min=1024,
        help="Largest image archive a tenant may upload into a bay, in bytes; larger ones get "
        "413. The upload is kept under <[DEFAULT] state_path>/uploads while it is loaded.",
    ),
    cfg.IntOpt(
        "max_image_unpacked_size",
        default=2 * 1024 * 1024 * 1024,
        min=1024,
        help="Largest size an uploaded image archive may unpack to, in bytes: the archive "
        "after decompression, and each of its compressed layers after its own (what every "
        "node's docker would decompress). The API measures it while it inspects the upload, "
        "before any node sees it, and stops reading (413) once past it, so that a small "
        "archive that unpacks to gigabytes costs no more than this.",
    ),
    cfg.IntOpt(
        "max_image_members",
        default=200000,
        min=10,
        help="Most entries an uploaded image archive may hold, its layers' entries (the "
        "files every node would write) included; more get 413, counted while the API "
        "inspects the upload.",
    ),
    cfg.IntOpt(
        "image_load_timeout",
        default=600,
        min=1,
        help="Seconds the API waits for a conductor to load an uploaded image into a bay.",
    ),
    cfg.FloatOpt(
        "exec_timeout",
        default=30.0,
        min=1.0,
        help="Seconds a command run by PUT /v1/containers/{id}/execute may take. Then every "
        "process it started in the container is killed and the answer is 504. Reading "
        "GET /v1/containers/{id}/logs has the same bound.",
    ),
    cfg.IntOpt(
        "max_exec_output",
        default=1024 * 1024,
        min=1024,
        help="Bytes of output execute answers: a command that prints more is stopped (as "
        'with `| head -c`) and the answer has "truncated": true. logs answers the most '
        'recent bytes of the log, this many at most, with "truncated" saying whether '
        "there were more.",
    ),
    cfg.IntOpt(
        "max_concurrent_execs",
        default=2,
        min=1,
        help="execute and logs calls one API process waits for at once; more are answered "
        "503 with Retry-After at once. Keep it below [api] threads, so that other requests "
        "always find a free thread.",
    ),
    cfg.FloatOpt(
        "broker_timeout",
        default=2.0,
        min=0.1,
        help="Seconds the API gives the message broker to answer before it counts the "
        "conductors unreachable. A request that waits for a conductor's answer (container "
        "create, actions, logs, exec; image load) then answers 503 with Retry-After, and "
        "so does one whose broker goes away while it waits (the broker is asked again "
        "twice a second). Bay operations never wait for the broker: they are recorded first, "
        "then announced in the background, or found by the conductors' scan.",
    ),
    cfg.IntOpt(
        "max_manifest_size",
        default=524288,
        min=1024,
        help="Largest manifest of a pod, service or replication controller, in bytes, given "
        "inline (manifest) or fetched (manifest_url); larger ones get 400, as in Magnum.",
    ),
    cfg.ListOpt(
        "manifest_url_allowed_hosts",
        default=[],
        help="Hosts (host or host:port) the API may fetch a manifest_url from, on the "
        "tenant's behalf, over http or https. Empty (the default): the API fetches nothing "
        "and a manifest_url is refused with 400; tenants send the manifest itself. Redirects "
        "are followed only to hosts of this list.",
    ),
    cfg.FloatOpt(
        "manifest_url_timeout",
        default=10.0,
        min=0.1,
        help="Seconds the API gives the fetch of a manifest_url, connecting, redirects and "
        "the whole answer included; then it gives up with 400.",
    ),
    cfg.StrOpt(
        "auth_strategy",
        default="noauth",
        choices=[
            (
                "noauth",
                "any token; project, user and roles from X-Project-Id, X-User-Id and "
                "X-Roles: for development only (the all-in-one's default; it warns on start-up)",
            ),
            (
                "keystone",
                "keystonemiddleware's auth_token validates the X-Auth-Token with "
                "Keystone ([keystone_authtoken])",
            ),
        ],
        help="How API requests are authenticated.",
    ),
    cfg.StrOpt(
        "default_project_id",
        default="default",
        help="Project of noauth requests that carry no X-Project-Id header.",
    ),
]

DATABASE_OPTS = [
    cfg.StrOpt(
        "connection",
        secret=True,
        default="sqlite:////var/lib/magnum/magnum.sqlite",
        help="SQLAlchemy URL of the database: sqlite, postgresql+psycopg, or MariaDB/MySQL "
        "as mysql+mysqldb (mysqlclient, C: about half the API's time per request of "
        "mysql+pymysql, which works too).",
    ),
    cfg.IntOpt(
        "max_pool_size",
        default=10,
        min=1,
        help="Connections kept open per process (per pool: an API process also keeps one "
        "of autocommit connections, for the requests that only read).",
    ),
    cfg.IntOpt("max_overflow", default=20, min=0, help="Extra connections allowed under load."),
]

CONDUCTOR_OPTS = [
    cfg.StrOpt("topic", default="magnum-conductor", help="RPC topic the conductors consume."),
    cfg.IntOpt(
        "workers",
        default=8,
        min=1,
        help="Bay operations one conductor process runs at the same time.",
    ),
    cfg.FloatOpt(
        "lease_ttl",
        default=30.0,
        min=1.0,
        help="Seconds a bay-operation lease stays valid without a heartbeat. "
        "When a conductor dies, another one takes the operation over after this long.",
    ),
    cfg.FloatOpt(
        "heartbeat_interval",
        default=5.0,
        min=0.1,
        help="Seconds between a conductor's lease renewals and service reports.",
    ),
    cfg.FloatOpt(
        "sync_interval",
        default=10.0,
        min=0.1,
        help="Seconds between scans for bay operations whose owner is gone.",
    ),
    cfg.FloatOpt(
        "health_interval",
        default=30.0,
        min=0.0,
        help="Seconds between health checks of each settled bay (every node's daemon answers "
        "and is part of the cluster). 0 disables them.",
    ),
    cfg.FloatOpt(
        "container_sync_interval",
        default=10.0,
        min=0.0,
        help="Seconds between syncs of each settled bay's container statuses with Docker "
        "(exited containers become Stopped, containers on a node that does not answer "
        "Error). 0 disables them.",
    ),
    cfg.FloatOpt(
        "container_create_grace",
        default=120.0,
        min=0.0,
        help="Seconds after which a container row still without a Docker id is taken to have "
        "lost its creator (a conductor stopped in the middle of the create). The container "
        "sync then adopts the Docker container labelled with its uuid on its node, if there "
        "is one, or marks the row Error. Make it longer than the slowest image pull.",
    ),
    cfg.IntOpt(
        "max_concurrent_execs",
        default=8,
        min=1,
        help="Container execute and logs calls one conductor runs at once; more are answered "
        "503 with Retry-After at once. Keep it well below [DEFAULT] "
        "executor_thread_pool_size, the threads that serve every RPC call.",
    ),
    cfg.FloatOpt(
        "event_max_age",
        default=30 * 24 * 3600.0,
        min=0.0,
        help="Seconds a cluster's events (and the records of finished operations) are kept; "
        "older ones are pruned. 0 keeps them forever.",
    ),
    cfg.IntOpt(
        "event_max_per_cluster",
        default=1000,
        min=0,
        help="Events kept per cluster; the oldest beyond this are pruned. 0 keeps them all.",
    ),
    cfg.FloatOpt(
        "event_prune_interval",
        default=600.0,
        min=0.0,
        help="Seconds between prunings of old events. 0 disables pruning.",
    ),
    cfg.IntOpt(
        "service_down_time",
        default=180,
        min=1,
        help="Seconds without a report after which a service is shown as down.",
    ),
    cfg.IntOpt(
        "default_bay_timeout",
        default=60,
        min=1,
        help="Minutes a bay create may take when the bay asks for no timeout (0).",
    ),
    cfg.ListOpt(
        "enabled_infra_drivers",
        default=["local"],
        help="Entry-point names from 'magnum.drivers.infra' to load at start-up.",
    ),
    cfg.ListOpt(
        "enabled_coe_drivers",
        default=["swarm", "kubernetes"],
        help="Entry-point names from 'magnum.drivers.coe' to load at start-up. "
        "The name is the COE it provides (swarm, kubernetes).",
    ),
]

CERTIFICATES_OPTS = [
    cfg.StrOpt(
        "key_secret",
        secret=True,
        help="Secret encrypting every bay's private keys (CA and conductor client) in the "
        "database. When unset, a random secret is made in <[DEFAULT] state_path>/pki.secret; "
        "set it explicitly when API and conductor processes run on several hosts.",
    ),
]

QUOTAS_OPTS = [
    cfg.IntOpt(
        "max_clusters_per_project",
        default=20,
        min=0,
        help="Clusters a project may have (Magnum's default); a quota record of the project "
        "overrides it. 0 allows none.",
    ),
    cfg.IntOpt(
        "max_nodes_per_project",
        default=100,
        min=0,
        help="Nodes (masters and workers of all its clusters) a project may have; a quota "
        "record of the project overrides it. 0 allows none.",
    ),
]

# oslo.policy 6 checks a rule's scope_types whenever they are set and has no switch for it;
# Magnum's [oslo_policy] enforce_scope is that switch (magnum.api.policy honours it).
POLICY_OPTS = [
    cfg.BoolOpt(
        "enforce_scope",
        default=True,
        help="Check the scope of the caller's token against each policy rule's scope types: "
        "a system-scoped token may then only do what an admin across projects does "
        "(lists and gets with all_projects=true, services, quotas), and a domain-scoped one "
        "nothing. False: the rules' check strings alone decide.",
    ),
]

GROUPS: dict[str, list[Any]] = {
    "DEFAULT": DEFAULT_OPTS,
    "api": API_OPTS,
    "database": DATABASE_OPTS,
    "conductor": CONDUCTOR_OPTS,
    "certificates": CERTIFICATES_OPTS,
    "quotas": QUOTAS_OPTS,
    local.GROUP: local.OPTS,
    kubernetes.GROUP: kubernetes.OPTS,
    "oslo_policy": POLICY_OPTS,
}

# oslo.messaging registers a few groups only on its global CONF; register them on ours.
_MESSAGING_OPTS = (
    ("oslo_messaging._drivers.impl_rabbit", "rabbit_opts", "oslo_messaging_rabbit"),
    ("oslo_messaging._drivers.amqp", "amqp_opts", "oslo_messaging_rabbit"),
    ("oslo_messaging.transport", "_transport_opts", None),
    ("oslo_messaging.rpc.client", "_client_opts", None),
    ("oslo_messaging.rpc.dispatcher", "_dispatcher_opts", None),
    ("oslo_messaging.notify.notifier", "_notifier_opts", "oslo_messaging_notifications"),
    ("oslo_messaging._metrics.client", "oslo_messaging_metrics", "oslo_messaging_metrics"),
    ("oslo_messaging._tracing.client", "oslo_messaging_tracing", "oslo_messaging_tracing"),
)


def _register_messaging(conf: cfg.ConfigOpts) -> None:
    for module, attr, group in _MESSAGING_OPTS:
        opts = getattr(importlib.import_module(module), attr)
        conf.register_opts(opts, group=group)


def _register_policy(conf: cfg.ConfigOpts) -> None:
    from oslo_policy import opts as policy_opts  # noqa: PLC0415 - keeps import time low

    policy_opts.set_defaults(conf)


KEYSTONE_GROUP = "keystone_authtoken"


def register_keystone(conf: cfg.ConfigOpts) -> None:
    """[keystone_authtoken]: keystonemiddleware's auth_token options, and those of the
    `password` auth plugin it logs in to Keystone with (username, password, project_name,
    ...), so that a config file or an override may set them. Only with auth_strategy =
    keystone: importing keystonemiddleware costs about half a second."""
    from keystoneauth1 import loading  # noqa: PLC0415 - see above
    from keystonemiddleware import opts as ksm_opts  # noqa: PLC0415

    for group, opts in ksm_opts.list_auth_token_opts():
        conf.register_opts(opts, group=group)
    conf.register_opts(loading.get_auth_plugin_conf_options("password"), group=KEYSTONE_GROUP)
    for name, value in KEYSTONE_DEFAULTS.items():
        conf.set_default(name, value, group=KEYSTONE_GROUP)


# auth_token's defaults that Magnum changes. include_service_catalog: nothing here calls
# another service on a caller's behalf (no Heat, Glance or Nova), so the X-Service-Catalog
# header would go unread; without it Keystone's validation answer, which auth_token keeps
# and parses again on every request, is a few hundred bytes instead of the whole catalog.
KEYSTONE_DEFAULTS: dict[str, object] = {"include_service_catalog": False}


def update_library_defaults() -> None:
    """oslo-config-generator's `oslo.config.opts.defaults` hook: the sample file shows the
    defaults of KEYSTONE_DEFAULTS. auth_token lists deep copies of its module's options, so
    those (not the copies) are the ones to change."""
    from keystonemiddleware.auth_token import _opts  # noqa: PLC0415 - the generator's only

    cfg.set_defaults(_opts._OPTS, **KEYSTONE_DEFAULTS)


def new(*, messaging: bool = True) -> cfg.ConfigOpts:
    """A ConfigOpts with every magnum group registered and nothing parsed."""
    conf = cfg.ConfigOpts()
    for group, opts in GROUPS.items():
        conf.register_opts(opts, group=None if group == "DEFAULT" else group)
    if messaging:
        _register_messaging(conf)
    _register_policy(conf)
    return conf


def load(
    argv: Sequence[str] = (),
    *,
    config_files: Iterable[str] | None = None,
    overrides: dict[str, dict[str, object]] | None = None,
) -> cfg.ConfigOpts:
    """Parse command-line arguments and config files into a new ConfigOpts.

    `overrides` maps group -> option -> value ("DEFAULT" for the default group);
    the all-in-one and the tests use it instead of writing files.
    """
    conf = new()
    conf(
        list(argv),
        project="magnum",
        default_config_files=list(config_files) if config_files is not None else None,
        default_config_dirs=[] if config_files is not None else None,
    )
    overrides = overrides or {}
    strategy = overrides.get("api", {}).get("auth_strategy", conf.api.auth_strategy)
    if strategy == "keystone" or KEYSTONE_GROUP in overrides:
        register_keystone(conf)
    for group, values in overrides.items():
        for name, value in values.items():
            conf.set_override(name, value, group=None if group == "DEFAULT" else group)
    return conf


def list_opts() -> list[tuple[str, list[Any]]]:
    """Options for oslo-config-generator and the committed sample file."""
    return [(group, list(opts)) for group, opts in GROUPS.items()]
