# SPDX-License-Identifier: Apache-2.0
"""KubernetesDriver: a real Kubernetes 1.20 cluster on the infrastructure's nodes.

The nodes are prepared by the infrastructure to the driver's profile (a container engine
that leaves networking to CNI; private /run, /var/log and /var/lib/kubelet, since the
kubelet writes those whatever its flags say), and the driver runs Kubernetes' own
binaries on them through the infrastructure's NodeHost (components.py says what each
runs). Bootstrap, in the order that keeps the critical path short:

  1. routes between the nodes' pod subnets (flannel's host-gw behaviour) on every node;
  2. on every master at once: etcd (one member per master) and the kube-apiserver; on
     every worker at once: the pause image imported, then the kubelet and kube-proxy
     (they retry the apiserver until it answers);
  3. once the apiserver's /readyz says ok: the controller-manager and scheduler (the
     controller-manager gives up if the apiserver is not up within 10 s of its start);
  4. done when every worker is Ready and schedulable (the driver drops the not-ready
     taint a Ready node still carries, rather than wait seconds for the controller-manager
     to) and the default service account exists (pods are admissible from then on).

With several masters the kubelets and the bay's api_address use the infrastructure's
front for the masters' :6443 (InfraDriver.api_frontend), so losing a master loses no
node. Scale-down cordons the node, evicts its pods and deletes the node object before the
infrastructure removes it. Health is the apiserver's /readyz and every node's Ready.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import io
import ipaddress
import pathlib
import re
import shutil
import tarfile
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import urllib3.exceptions
from oslo_config import cfg

from magnum.common import exceptions, lazy, pki
from magnum.drivers import base, waiting
from magnum.drivers.coe import engines as engines_mod
from magnum.drivers.coe import images
from magnum.drivers.coe.kubernetes import client as client_mod
from magnum.drivers.coe.kubernetes import components as comp
from magnum.drivers.coe.kubernetes import workloads as workloads_mod

if TYPE_CHECKING:
    import docker.errors
    import kubernetes.client
    from kubernetes.client import exceptions as k8s_errors
else:
    docker = lazy.module("docker")
    kubernetes = lazy.module("kubernetes")
    k8s_errors = lazy.module("kubernetes.client.exceptions")


VERSION = "v1.20.2"
BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
NETWORK_DRIVERS = (None, "", "flannel")
FLANNEL_BACKENDS = ("host-gw",)
DEFAULT_POD_CIDR = "10.100.0.0/16"
DEFAULT_SERVICE_CIDR = "10.254.0.0/16"
# The default when the template's fixed_network lies in DEFAULT_SERVICE_CIDR (Magnum's
# guides name fixed_network 10.254.0.0/24): kubeadm's service range, a /16 of it.
OTHER_SERVICE_CIDR = "10.96.0.0/16"
DEFAULT_SUBNET_LEN = 24
# Labels of Magnum's Kubernetes templates that ask for add-ons no local image provides.
ADDONS = {
    "kube_dashboard_enabled": "the Kubernetes dashboard",
    "influx_grafana_dashboard_enabled": "InfluxDB and Grafana",
    "prometheus_monitoring": "Prometheus",
    "monitoring_enabled": "Prometheus",
    "cert_manager_api": "cert-manager",
    "ingress_controller": "an ingress controller",
    "auto_healing_enabled": "the auto-healer",
    "auto_scaling_enabled": "the cluster autoscaler",
    "cloud_provider_enabled": "the OpenStack cloud provider",
}
MASTER_DAEMONS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
WORKER_DAEMONS = ("kubelet", "kube-proxy")
MAX_PARALLEL = 8
MAX_EXITS = 5  # a component that exits this often while the cluster forms cannot start
POLL = 0.1
STATE = client_mod.STATE


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() not in ("", "false", "0", "no", "off", "none")


def _split(nodes: Sequence[base.Node]) -> tuple[list[base.Node], list[base.Node]]:
    masters = [n for n in nodes if n.role is base.Role.MASTER]
    return masters, [n for n in nodes if n.role is not base.Role.MASTER]


def _fixed_network(text: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The template's fixed_network as a CIDR, if it is one (the infrastructure says what
    else it accepts)."""
    try:
        return ipaddress.ip_network(text) if text else None
    except ValueError:
        return None


def _network(labels: Mapping[str, str], fixed_network: str | None) -> comp.Network:
    """The address plan the template's labels ask for (validated by `validate`). Without a
    service_cluster_ip_range label, the default range, or another one where the nodes'
    fixed_network lies in it."""
    try:
        pods = ipaddress.IPv4Network(labels.get("flannel_network_cidr") or DEFAULT_POD_CIDR)
        default = ipaddress.IPv4Network(DEFAULT_SERVICE_CIDR)
        fixed = _fixed_network(fixed_network)
        if fixed is not None and fixed.overlaps(default):
            default = ipaddress.IPv4Network(OTHER_SERVICE_CIDR)
        services = ipaddress.IPv4Network(labels.get("service_cluster_ip_range") or default)
        subnet_len = int(labels.get("flannel_network_subnetlen") or DEFAULT_SUBNET_LEN)
    except ValueError as exc:
        raise exceptions.InvalidParameterValue(err=f"Bad Kubernetes network label: {exc}") from exc
    return comp.Network(pods=pods, subnet_len=subnet_len, services=services)


def _pause_archive(path: pathlib.Path) -> bytes:
    """A rootfs holding only the pause binary, for `docker import`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("pause")
        data = path.read_bytes()
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class KubernetesDriver(base.CoeDriver):
    coe: ClassVar[str] = "kubernetes"
    node_profile: ClassVar[base.NodeProfile] = base.NodeProfile(
        engine_networking=False, private_dirs=("/run", "/var/log", "/var/lib/kubelet")
    )
    api_port: ClassVar[int | None] = comp.API_PORT
    # The components' certificates and trust files come from the CA a rotation replaces.
    tls_rotation: ClassVar[bool] = False

    def __init__(self, conf: cfg.ConfigOpts) -> None:
        super().__init__(conf)
        secret: Callable[[], bytes] = lambda: pki.key_secret(conf)  # noqa: E731
        self.clients = client_mod.Clients(secret)
        self.engines = engines_mod.Engines(secret)
        self._secret = secret
        # Tenants load their images into every node's engine: nothing is pulled here.
        self.images = images.EngineImages(self.engines)
        # Pods, services and replication controllers of the bay's own API (Mitaka's /v1/pods...).
        self.workloads = workloads_mod.KubernetesWorkloads(self.clients.api)

    def close(self) -> None:
        self.clients.close()
        self.engines.close()

    # --- configuration ---------------------------------------------------------------
    def _bins(self) -> dict[str, str]:
        k8s = self.conf.kubernetes
        bins = {b: str(pathlib.Path(k8s.bin_dir) / b) for b in (*BINARIES, "pause")}
        bins["etcd"] = k8s.etcd
        return bins

    def _check_binaries(self) -> None:
        missing = [
            name
            for name, path in self._bins().items()
            if not (pathlib.Path(path).is_file() or shutil.which(path))
        ]
        if missing:
            raise exceptions.InvalidParameterValue(
                err=f"Kubernetes bays cannot be made on this host: {', '.join(sorted(missing))} "
                f"not found in [kubernetes] bin_dir {self.conf.kubernetes.bin_dir} (run "
                "scripts/build-kubernetes)."
            )

    def validate(
        self, cluster_template: base.ClusterTemplateView, *, master_count: int, node_count: int
    ) -> None:
        model = cluster_template
        labels = model.labels
        if model.network_driver not in NETWORK_DRIVERS:
            raise exceptions.InvalidParameterValue(
                err=f"Network driver {model.network_driver} is not supported by kubernetes bays; "
                "supported: flannel (pod subnets routed between nodes)."
            )
        backend = labels.get("flannel_backend")
        if backend and backend not in FLANNEL_BACKENDS:
            raise exceptions.InvalidParameterValue(
                err=f"flannel_backend {backend} is not supported; supported: "
                f"{', '.join(FLANNEL_BACKENDS)}."
            )
        tag = labels.get("kube_tag")
        if tag and tag.lstrip("v") != VERSION.lstrip("v"):
            raise exceptions.InvalidParameterValue(
                err=f"kube_tag {tag} is not installed; installed: {VERSION}."
            )
        for label, what in ADDONS.items():
            if label in labels and _truthy(labels[label]):
                raise exceptions.InvalidParameterValue(
                    err=f"Label {label}={labels[label]} asks for {what}, which this "
                    f"installation does not provide; set {label}=false or leave it out."
                )
        net = _network(labels, cluster_template.fixed_network)
        if not 16 <= net.pods.prefixlen <= net.subnet_len - 8 or net.subnet_len > 28:
            raise exceptions.InvalidParameterValue(
                err=f"flannel_network_cidr {net.pods} must hold 256 subnets of "
                f"flannel_network_subnetlen {net.subnet_len} (at most /{net.subnet_len - 8}, "
                "at least /16; subnets at most /28)."
            )
        if net.pods.overlaps(net.services):
            raise exceptions.InvalidParameterValue(
                err=f"flannel_network_cidr {net.pods} overlaps service_cluster_ip_range "
                f"{net.services}."
            )
        pool = ipaddress.ip_network(self.conf.local.subnet_pool)
        fixed = _fixed_network(cluster_template.fixed_network)
        for what, cidr in (
            ("flannel_network_cidr", net.pods),
            ("service_cluster_ip_range", net.services),
        ):
            if cidr.overlaps(pool):
                raise exceptions.InvalidParameterValue(
                    err=f"{what} {cidr} overlaps the node networks ({pool})."
                )
            if fixed is not None and cidr.overlaps(fixed):
                raise exceptions.InvalidParameterValue(
                    err=f"{what} {cidr} overlaps the fixed_network {fixed}."
                )
        if master_count < 1:
            raise exceptions.InvalidParameterValue(
                err="A kubernetes bay needs at least one master."
            )
        del node_count
        self._check_binaries()

    # --- state -------------------------------------------------------------------------
    def _hosts(self, task: base.ClusterTask) -> base.NodeHost:
        name = task.state.get("infra")
        infra = self.infra.get(name) if name else next(iter(self.infra.values()), None)
        if infra is None or infra.hosts is None:
            raise exceptions.ClusterOperationFailed(
                reason=f"The infrastructure {name or ''} cannot run Kubernetes' daemons on its "
                "nodes."
            )
        return infra.hosts

    def _infra(self, task: base.ClusterTask) -> base.InfraDriver | None:
        name = task.state.get("infra")
        return self.infra.get(name) if name else next(iter(self.infra.values()), None)

    def _secrets(self, task: base.ClusterTask) -> comp.Secrets:
        """The cluster's CA (to issue component certificates), made once: the
        service-account key pair and the conductor's admin certificate, in the state."""
        creds_state = task.state.get(pki.STATE_KEY)
        if not creds_state:
            raise exceptions.ClusterOperationFailed(reason="The bay has no certificate authority.")
        creds = pki.ClusterCredentials.from_state(creds_state)
        secret = self._secret()
        ca_key = pki.decrypt_key(creds.ca_key, secret)
        mine = task.state.setdefault(STATE, {})
        changed = False
        if "sa" not in mine:
            key, pub = pki.new_key_pair()
            mine["sa"] = {"key": pki.encrypt_key(key, secret).decode(), "pub": pub.decode()}
            changed = True
        if "admin" not in mine:
            key, cert = pki.issue_cert(
                ca_key,
                creds.signing_ca,
                common_name=comp.ADMIN_USER,
                organizations=(comp.ADMIN_GROUP,),
                client=True,
            )
            mine["admin"] = {"cert": cert.decode(), "key": pki.encrypt_key(key, secret).decode()}
            changed = True
        if changed:
            task.checkpoint()
        return comp.Secrets(
            trust=creds.ca_cert,
            ca_cert=creds.signing_ca,
            ca_key=ca_key,
            sa_key=pki.decrypt_key(mine["sa"]["key"].encode(), secret),
            sa_pub=mine["sa"]["pub"].encode(),
        )

    def _server(self, task: base.ClusterTask, masters: Sequence[base.Node]) -> str:
        """Where nodes and the conductor reach the API: the masters' front, or master-0."""
        front = None
        infra = self._infra(task)
        if len(masters) > 1 and infra is not None:
            front = infra.api_frontend(task, masters, port=comp.API_PORT)
        server = f"https://{front or f'{masters[0].reachable_address}:{comp.API_PORT}'}"
        mine = task.state.setdefault(STATE, {})
        if mine.get("server") != server:
            mine["server"] = server
            task.checkpoint()
        return server

    # --- lifecycle ---------------------------------------------------------------------
    def bootstrap(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Endpoints:
        hosts = self._hosts(task)
        masters, workers = _split(nodes)
        net = _network(task.cluster_template.labels, task.cluster_template.fixed_network)
        secrets = self._secrets(task)
        server = self._server(task, masters)
        front = server.removeprefix("https://").rsplit(":", 1)[0]
        self._parallel(
            [functools.partial(hosts.set_routes, task, n, net.routes(n, nodes)) for n in nodes]
        )
        bins = self._bins()
        token = task.cluster.uuid
        for m in masters:
            hosts.start(
                task,
                m,
                [
                    comp.etcd(bins, secrets, m, masters, token=token),
                    comp.apiserver(
                        bins,
                        secrets,
                        m,
                        masters,
                        net,
                        extra_addresses=(front,) if front != m.address else (),
                    ),
                ],
            )
        # The controller-manager and scheduler start at once too: most of their own start-up
        # overlaps the apiserver's. The controller-manager gives up when the apiserver is not
        # healthy within 10 s; its supervisor starts it again.
        controllers = [
            comp.controller_manager(bins, secrets, net, leader_elect=len(masters) > 1),
            comp.scheduler(bins, secrets, leader_elect=len(masters) > 1),
        ]
        for m in masters:
            hosts.start(task, m, controllers)
        task.progress(f"Control plane starting on {len(masters)} master(s)")
        self._start_workers(
            task, hosts=hosts, secrets=secrets, net=net, server=server, workers=workers
        )
        self._wait_api(task, hosts, masters)
        task.progress("API up; waiting for the nodes to be Ready")
        self._wait_ready(task, hosts, masters, workers, total=len(workers))
        self._wait_service_account(task, hosts, masters)
        return self._endpoints(server, masters, workers)

    def add_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], new: Sequence[base.Node]
    ) -> base.Endpoints:
        hosts = self._hosts(task)
        masters, workers = _split(nodes)
        net = _network(task.cluster_template.labels, task.cluster_template.fixed_network)
        server = self._server(task, masters)
        if new:
            secrets = self._secrets(task)
            self._parallel(
                [functools.partial(hosts.set_routes, task, n, net.routes(n, nodes)) for n in nodes]
            )
            self._start_workers(
                task, hosts=hosts, secrets=secrets, net=net, server=server, workers=new
            )
            self._wait_ready(task, hosts, masters, new, total=len(new))
        return self._endpoints(server, masters, workers)

    def remove_workers(
        self, task: base.ClusterTask, nodes: Sequence[base.Node], gone: Sequence[base.Node]
    ) -> None:
        if not gone:
            return
        hosts = self._hosts(task)
        masters, _ = _split(nodes)
        core = kubernetes.client.CoreV1Api(self.clients.api(task))
        for done, node in enumerate(gone, 1):
            self._drain(task, core, node)
            with self._mapped(task, f"Deleting node {node.name}"):
                try:
                    core.delete_node(node.name, _request_timeout=client_mod.TIMEOUT)
                except k8s_errors.ApiException as exc:
                    if exc.status != 404:
                        raise
            for daemon in ("kubelet", "kube-proxy"):
                hosts.stop(task, node, daemon)
            task.progress(f"{done}/{len(gone)} nodes drained and removed")
        del masters

    def health(self, task: base.ClusterTask, nodes: Sequence[base.Node]) -> base.Health:
        masters, workers = _split(nodes)
        hosts = self._hosts(task)
        down = [
            f"{daemon} on {node.name}"
            for node, daemons in [(m, MASTER_DAEMONS) for m in masters]
            + [(w, WORKER_DAEMONS) for w in workers]
            for daemon in daemons
            if not hosts.running(task, node, daemon)
        ]
        if down:
            return base.Health(healthy=False, reason=f"Not running: {', '.join(down)}")
        try:
            api = self.clients.api(task)
            trouble = self._readyz(api)
            if trouble is not None:
                return base.Health(healthy=False, reason=f"The API is not ready: {trouble}")
            listed = kubernetes.client.CoreV1Api(api).list_node(_request_timeout=client_mod.TIMEOUT)
        except exceptions.MagnumError as exc:
            return base.Health(healthy=False, reason=str(exc))
        except (k8s_errors.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            return base.Health(healthy=False, reason=f"The API does not answer: {_why(exc)}")
        states = {_name(n): _ready(n) for n in listed.items}
        bad = [w.name for w in workers if states.get(w.name) is not True]
        if bad:
            return base.Health(healthy=False, reason=f"Nodes not Ready: {', '.join(bad)}")
        return base.Health(
            healthy=True,
            reason=f"API ready on {len(masters)} master(s); {len(workers)} nodes Ready",
        )

    # --- steps -------------------------------------------------------------------------
    def _start_workers(
        self,
        task: base.ClusterTask,
        *,
        hosts: base.NodeHost,
        secrets: comp.Secrets,
        net: comp.Network,
        server: str,
        workers: Sequence[base.Node],
    ) -> None:
        bins = self._bins()
        k8s = self.conf.kubernetes
        model = task.cluster_template
        groups = {g.name: g for g in task.cluster.nodegroups}
        pause = _pause_archive(pathlib.Path(bins["pause"]))

        def one(node: base.Node) -> None:
            self._import_images(task, node, pause)
            group = groups.get(node.nodegroup)
            labels = {comp.ROLE_LABEL: str(node.role), comp.NODEGROUP_LABEL: node.nodegroup}
            labels |= dict(group.node_labels) if group else {}
            hosts.start(
                task,
                node,
                [
                    comp.kubelet(
                        bins,
                        secrets,
                        node,
                        net,
                        server=server,
                        cni_bin_dir=k8s.cni_bin_dir,
                        status_frequency=k8s.node_status_update_frequency,
                        dns=(model.dns_nameserver,) if model.dns_nameserver else (),
                        labels=labels,
                        taints=group.node_taints if group else (),
                    ),
                    comp.kube_proxy(bins, secrets, node, net, server=server),
                ],
            )

        self._parallel([functools.partial(one, n) for n in workers])

    def _import_images(self, task: base.ClusterTask, node: base.Node, pause: bytes) -> None:
        """The pod sandbox image, and `busybox:latest` for the node's local busybox (what
        manifests name most), into the node's engine: nothing is ever pulled."""
        with self.engines.on(task, node, f"Importing the pause image into {node.name}") as engine:
            try:
                engine.images.get(comp.PAUSE_IMAGE)
            except docker.errors.ImageNotFound:
                repo, tag = comp.PAUSE_IMAGE.split(":")
                engine.api.import_image_from_data(
                    pause, repository=repo, tag=tag, changes=['ENTRYPOINT ["/pause"]']
                )
            try:
                engine.images.get("busybox:latest")
            except docker.errors.ImageNotFound:
                with contextlib.suppress(docker.errors.ImageNotFound):
                    engine.images.get("local/busybox:latest").tag("busybox", "latest")

    def _wait_api(
        self,
        task: base.ClusterTask,
        hosts: base.NodeHost,
        masters: Sequence[base.Node],
    ) -> None:
        """Until the apiserver is ready."""
        api = self.clients.api(task)
        last: list[str] = ["no answer yet"]

        def up() -> bool:
            self._check_running(task, hosts, masters, MASTER_DAEMONS)
            trouble = self._readyz(api)
            if trouble is None:
                return True
            last[0] = trouble
            return False

        self._wait(
            task,
            "The Kubernetes API",
            probe=up,
            detail=lambda: last[0],
            hosts=hosts,
            node=masters[0],
            daemon="kube-apiserver",
        )

    def _wait_ready(
        self,
        task: base.ClusterTask,
        hosts: base.NodeHost,
        masters: Sequence[base.Node],
        workers: Sequence[base.Node],
        *,
        total: int,
    ) -> None:
        if not workers:
            return
        core = kubernetes.client.CoreV1Api(self.clients.api(task))
        wanted = {w.name for w in workers}
        seen = [-1]

        def ready() -> bool:
            self._check_running(task, hosts, workers, ("kubelet", "kube-proxy"))
            self._check_running(task, hosts, masters, ("kube-apiserver", "kube-controller-manager"))
            try:
                listed = core.list_node(_request_timeout=client_mod.TIMEOUT)
            except (k8s_errors.ApiException, urllib3.exceptions.HTTPError, OSError):
                return False
            ready_nodes = [n for n in listed.items if _name(n) in wanted and _ready(n)]
            count = len(ready_nodes)
            if count != seen[0]:
                seen[0] = count
                task.progress(f"{count}/{total} nodes Ready")
            # A Ready node keeps the not-ready taint until the controller-manager's node
            # lifecycle controller runs (seconds later): pods would wait for it. The taint
            # says what is no longer true, so it goes now; done once none carries it.
            tainted = [n for n in ready_nodes if _not_ready_taint(n)]
            for node in tainted:
                _untaint(core, node)
            return count == len(wanted) and not tainted

        waiting_on = workers[0]
        self._wait(
            task,
            "Kubernetes nodes",
            probe=ready,
            detail=lambda: f"{max(seen[0], 0)}/{total} Ready",
            hosts=hosts,
            node=waiting_on,
            daemon="kubelet",
        )

    def _wait_service_account(
        self, task: base.ClusterTask, hosts: base.NodeHost, masters: Sequence[base.Node]
    ) -> None:
        """Until pods are admissible: the default service account has its token. The
        driver makes the account itself, as the controller-manager's serviceaccount
        controller would: that controller starts among forty others, in random order, up to
        6 s after the tokens controller that then issues the account's token at once."""
        core = kubernetes.client.CoreV1Api(self.clients.api(task))
        body = kubernetes.client.V1ServiceAccount(
            metadata=kubernetes.client.V1ObjectMeta(name="default", namespace="default")
        )

        def made() -> bool:
            self._check_running(task, hosts, masters, ("kube-controller-manager",))
            try:
                sa = core.read_namespaced_service_account(
                    "default", "default", _request_timeout=client_mod.TIMEOUT
                )
            except k8s_errors.ApiException as exc:
                if exc.status == 404:
                    with contextlib.suppress(k8s_errors.ApiException):  # 409: made meanwhile
                        core.create_namespaced_service_account(
                            "default", body, _request_timeout=client_mod.TIMEOUT
                        )
                return False
            except (urllib3.exceptions.HTTPError, OSError):
                return False
            return bool(sa.secrets)

        self._wait(
            task,
            "The default service account",
            probe=made,
            detail=lambda: "not made yet",
            hosts=hosts,
            node=masters[0],
            daemon="kube-controller-manager",
        )

    def _wait(
        self,
        task: base.ClusterTask,
        what: str,
        *,
        probe: Callable[[], bool],
        detail: Callable[[], str],
        hosts: base.NodeHost,
        node: base.Node,
        daemon: str,
    ) -> None:
        timeout = self.conf.kubernetes.start_timeout
        try:
            waiting.wait_for(what, probe, timeout=timeout, poll=POLL)
        except exceptions.WaitTimedOut as exc:
            raise exceptions.NodeStartFailed(
                reason=f"{what} was not up within {timeout:.0f} s ({detail()}); {daemon} on "
                f"{node.name} last said: {_last_words(hosts, task, node, daemon)}"
            ) from exc

    @staticmethod
    def _check_running(
        task: base.ClusterTask,
        hosts: base.NodeHost,
        nodes: Sequence[base.Node],
        daemons: Sequence[str],
    ) -> None:
        """Fail once a component keeps exiting. A few exits are normal while the cluster
        forms (the controller-manager gives up on an apiserver that is not ready within
        10 s; components exit when etcd changes leader), and each is restarted."""
        for node in nodes:
            for daemon in daemons:
                if (count := hosts.exits(task, node, daemon)) >= MAX_EXITS:
                    raise exceptions.NodeStartFailed(
                        reason=f"{daemon} on {node.name} exited {count} times: "
                        f"{_last_words(hosts, task, node, daemon)}"
                    )

    @staticmethod
    def _readyz(api: kubernetes.client.ApiClient) -> str | None:
        """None when the apiserver's /readyz says ok, else what it said instead."""
        try:
            answer = api.call_api("GET", f"{api.configuration.host}/readyz", _request_timeout=2)
            body = answer.read().decode(errors="replace").strip()  # type: ignore[no-untyped-call]
        except k8s_errors.ApiException as exc:
            return f"/readyz answered {exc.status}"
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return _why(exc)
        if answer.status == 200 and body == "ok":
            return None
        return f"/readyz answered {answer.status}: {body[:200]}"

    def _drain(
        self, task: base.ClusterTask, core: kubernetes.client.CoreV1Api, node: base.Node
    ) -> None:
        """Cordon, evict every pod (controllers make them again elsewhere), wait until the
        node holds none but mirror pods."""
        with self._mapped(task, f"Draining node {node.name}"):
            try:
                core.patch_node(
                    node.name,
                    {"spec": {"unschedulable": True}},
                    _request_timeout=client_mod.TIMEOUT,
                )
            except k8s_errors.ApiException as exc:
                if exc.status == 404:
                    return
                raise

            def pods() -> list[Any]:
                listed = core.list_pod_for_all_namespaces(
                    field_selector=f"spec.nodeName={node.name}", _request_timeout=client_mod.TIMEOUT
                )
                return list(listed.items)

            for pod in pods():
                body = kubernetes.client.V1Eviction(
                    metadata=kubernetes.client.V1ObjectMeta(
                        name=pod.metadata.name, namespace=pod.metadata.namespace
                    ),
                    delete_options=kubernetes.client.V1DeleteOptions(grace_period_seconds=0),
                )
                try:
                    core.create_namespaced_pod_eviction(
                        pod.metadata.name,
                        pod.metadata.namespace,
                        body,
                        _request_timeout=client_mod.TIMEOUT,
                    )
                except k8s_errors.ApiException as exc:
                    if exc.status not in (404, 429):
                        raise
                    if exc.status == 429:  # a disruption budget: delete, as the node goes anyway
                        core.delete_namespaced_pod(
                            pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0
                        )
            waiting.wait_for(
                f"pods of {node.name} to leave",
                lambda: not pods(),
                timeout=self.conf.kubernetes.drain_timeout,
                poll=POLL,
            )

    def _mapped(self, task: base.ClusterTask, what: str) -> Any:
        return _Mapped(what, task.cluster.uuid)

    @staticmethod
    def _endpoints(
        server: str, masters: Sequence[base.Node], workers: Sequence[base.Node]
    ) -> base.Endpoints:
        return base.Endpoints(
            api_address=server,
            master_addresses=tuple(m.reachable_address for m in masters),
            node_addresses=tuple(w.reachable_address for w in workers),
        )

    @staticmethod
    def _parallel(jobs: Sequence[Callable[[], None]]) -> None:
        if not jobs:
            return
        with concurrent.futures.ThreadPoolExecutor(min(MAX_PARALLEL, len(jobs))) as pool:
            futures = [pool.submit(job) for job in jobs]
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]


class _Mapped:
    """Kubernetes API errors of a lifecycle step as magnum errors."""

    def __init__(self, what: str, cluster: str) -> None:
        self.what = what
        self.cluster = cluster

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, exceptions.MagnumError):
            return
        if isinstance(exc, k8s_errors.ApiException):
            raise exceptions.ClusterOperationFailed(
                reason=f"{self.what} failed: the Kubernetes API answered {exc.status} {exc.reason}"
            ) from exc
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            raise exceptions.NodeUnavailable(
                detail=f"{self.what} failed: the Kubernetes API of cluster {self.cluster} does "
                f"not answer ({_why(exc)})"
            ) from exc


def _why(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)[:200]


def _last_words(hosts: base.NodeHost, task: base.ClusterTask, node: base.Node, daemon: str) -> str:
    """What a Kubernetes component said last: its fatal line (klog's F...) if it died of
    one (the goroutine dump that follows says nothing to a tenant), else its last lines."""
    text = hosts.log_tail(task, node, daemon, lines=400)
    lines = text.split(" | ")
    fatal = [line for line in lines if re.match(r"^F\d{4} ", line)]
    if fatal:
        return fatal[-1][:500]
    return " | ".join(lines[-3:])[:500]


def _name(obj: Any) -> str:
    """An API object's name (every object the API lists has one)."""
    return str(obj.metadata.name) if obj.metadata is not None else ""


NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def _not_ready_taint(node: Any) -> bool:
    return any(t.key == NOT_READY_TAINT for t in (node.spec.taints or ()))


def _untaint(core: kubernetes.client.CoreV1Api, node: Any) -> None:
    """Drop the not-ready taint of a Ready node, unless the node changed since it was read
    (its resourceVersion: then the API answers 409 and the next look tries again)."""
    kept = [
        {k: v for k, v in (("key", t.key), ("value", t.value), ("effect", t.effect)) if v}
        for t in node.spec.taints or ()
        if t.key != NOT_READY_TAINT
    ]
    body = {
        "metadata": {"resourceVersion": node.metadata.resource_version},
        "spec": {"taints": kept or None},
    }
    with contextlib.suppress(k8s_errors.ApiException, urllib3.exceptions.HTTPError, OSError):
        core.patch_node(_name(node), body, _request_timeout=client_mod.TIMEOUT)


def _ready(node: Any) -> bool:
    for cond in node.status.conditions or ():
        if cond.type == "Ready":
            return bool(cond.status == "True")
    return False
