# SPDX-License-Identifier: Apache-2.0
"""What each Kubernetes node runs, as NodeHost daemons: files, flags and certificates.

Masters run etcd (one member per master, TLS between members and to its clients), the
kube-apiserver on :6443, the controller-manager and the scheduler; workers run the
kubelet (dockershim on the node's dockerd, CNI bridge networking) and kube-proxy
(iptables mode). Every certificate is issued by the cluster's CA, the one the
certificates API serves and signs tenant CSRs with; the CA key never leaves the
conductor. Kubeconfigs embed their certificates. Every path is "{dir}", the daemon's own
directory on the node.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import json
from collections.abc import Mapping, Sequence

from magnum.common import pki
from magnum.drivers import base

API_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
KUBELET_PORT = 10250
PAUSE_IMAGE = "magnum/pause:3.4"
ROLE_LABEL = "magnum.openstack.org/role"
NODEGROUP_LABEL = "magnum.openstack.org/nodegroup"
ADMIN_USER = "magnum-conductor"
ADMIN_GROUP = "system:masters"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Network:
    """The cluster's address plan: `pods` is split into one `subnet_len` subnet per node
    (numbered by the last byte of the node's address), `services` holds ClusterIPs."""

    pods: ipaddress.IPv4Network
    subnet_len: int
    services: ipaddress.IPv4Network

    def pod_subnet(self, node: base.Node) -> ipaddress.IPv4Network:
        index = int(ipaddress.IPv4Address(node.address)) & 0xFF
        return list(self.pods.subnets(new_prefix=self.subnet_len))[index]

    @property
    def api_service_ip(self) -> str:
        return str(self.services[1])

    def routes(self, node: base.Node, nodes: Sequence[base.Node]) -> dict[str, str]:
        """host-gw: every other node's pod subnet via that node; ClusterIPs on the wire
        (kube-proxy's rules in each node translate them)."""
        out = {str(self.pod_subnet(n)): n.address for n in nodes if n.name != node.name}
        out[str(self.services)] = ""
        return out


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Secrets:
    """What the components share: the trust bundle, the CA that issues their
    certificates (decrypted key, in memory only) and the service-account key pair."""

    trust: bytes
    ca_cert: bytes
    ca_key: bytes
    sa_key: bytes
    sa_pub: bytes

    def cert(self, cn: str, **kwargs: object) -> tuple[bytes, bytes]:
        return pki.issue_cert(self.ca_key, self.ca_cert, common_name=cn, **kwargs)  # type: ignore[arg-type]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def kubeconfig(server: str, trust: bytes, cert: bytes, key: bytes, *, user: str) -> bytes:
    """A kubeconfig (JSON is YAML) with everything embedded."""
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "magnum",
                "cluster": {"server": server, "certificate-authority-data": _b64(trust)},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)},
            }
        ],
        "contexts": [{"name": "magnum", "context": {"cluster": "magnum", "user": user}}],
        "current-context": "magnum",
    }
    return json.dumps(doc, indent=1).encode()


def _flags(values: Mapping[str, object]) -> list[str]:
    return [f"--{k}={v}" for k, v in values.items()]


# --- masters -------------------------------------------------------------------------
def etcd(
    bins: Mapping[str, str],
    secrets: Secrets,
    node: base.Node,
    masters: Sequence[base.Node],
    *,
    token: str,
    existing: bool = False,
) -> base.Daemon:
    key, cert = secrets.cert(
        node.name,
        client=True,
        server_names=("localhost", node.name),
        server_addresses=("127.0.0.1", node.address),
    )
    me = f"https://{node.address}:{ETCD_PEER_PORT}"
    flags = {
        "name": node.name,
        "data-dir": "{dir}/data",
        "listen-client-urls": f"https://127.0.0.1:{ETCD_CLIENT_PORT},https://{node.address}:{ETCD_CLIENT_PORT}",
        "advertise-client-urls": f"https://{node.address}:{ETCD_CLIENT_PORT}",
        "listen-peer-urls": me,
        "initial-advertise-peer-urls": me,
        "initial-cluster": ",".join(
            f"{m.name}=https://{m.address}:{ETCD_PEER_PORT}" for m in masters
        ),
        "initial-cluster-state": "existing" if existing else "new",
        "initial-cluster-token": token,
        "cert-file": "{dir}/etcd.crt",
        "key-file": "{dir}/etcd.key",
        "trusted-ca-file": "{dir}/ca.crt",
        "client-cert-auth": "true",
        "peer-cert-file": "{dir}/etcd.crt",
        "peer-key-file": "{dir}/etcd.key",
        "peer-trusted-ca-file": "{dir}/ca.crt",
        "peer-client-cert-auth": "true",
        "logger": "zap",
        "log-level": "warn",
    }
    return base.Daemon(
        name="etcd",
        argv=(bins["etcd"], *_flags(flags)),
        files={"ca.crt": secrets.ca_cert, "etcd.crt": cert, "etcd.key": key},
    )


def apiserver(
    bins: Mapping[str, str],
    secrets: Secrets,
    node: base.Node,
    masters: Sequence[base.Node],
    net: Network,
    *,
    extra_addresses: Sequence[str] = (),
) -> base.Daemon:
    key, cert = secrets.cert(
        "kube-apiserver",
        server_names=(
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
            node.name,
        ),
        server_addresses=(node.address, net.api_service_ip, "127.0.0.1", *extra_addresses),
    )
    kkey, kcert = secrets.cert(
        "kube-apiserver-kubelet-client", organizations=(ADMIN_GROUP,), client=True
    )
    ekey, ecert = secrets.cert("kube-apiserver-etcd-client", client=True)
    flags = {
        "advertise-address": node.address,
        "bind-address": "0.0.0.0",  # noqa: S104 - the node's own network namespace
        "secure-port": API_PORT,
        "insecure-port": 0,
        "etcd-servers": ",".join(f"https://{m.address}:{ETCD_CLIENT_PORT}" for m in masters),
        "etcd-cafile": "{dir}/ca.crt",
        "etcd-certfile": "{dir}/etcd-client.crt",
        "etcd-keyfile": "{dir}/etcd-client.key",
        "service-cluster-ip-range": str(net.services),
        "client-ca-file": "{dir}/trust.crt",
        "tls-cert-file": "{dir}/apiserver.crt",
        "tls-private-key-file": "{dir}/apiserver.key",
        "kubelet-client-certificate": "{dir}/kubelet-client.crt",
        "kubelet-client-key": "{dir}/kubelet-client.key",
        "kubelet-certificate-authority": "{dir}/trust.crt",
        "kubelet-preferred-address-types": "InternalIP",
        "service-account-key-file": "{dir}/sa.pub",
        "service-account-signing-key-file": "{dir}/sa.key",
        "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
        "authorization-mode": "Node,RBAC",
        "enable-admission-plugins": "NodeRestriction",
        "allow-privileged": "true",
        "cert-dir": "{dir}/certs",
        "profiling": "false",
    }
    return base.Daemon(
        name="kube-apiserver",
        argv=(bins["kube-apiserver"], *_flags(flags)),
        files={
            "ca.crt": secrets.ca_cert,
            "trust.crt": secrets.trust,
            "apiserver.crt": cert,
            "apiserver.key": key,
            "kubelet-client.crt": kcert,
            "kubelet-client.key": kkey,
            "etcd-client.crt": ecert,
            "etcd-client.key": ekey,
            "sa.pub": secrets.sa_pub,
            "sa.key": secrets.sa_key,
        },
    )


def _local_kubeconfig(secrets: Secrets, cn: str) -> bytes:
    key, cert = secrets.cert(cn, client=True)
    return kubeconfig(f"https://127.0.0.1:{API_PORT}", secrets.trust, cert, key, user=cn)


def controller_manager(
    bins: Mapping[str, str], secrets: Secrets, net: Network, *, leader_elect: bool
) -> base.Daemon:
    # No serving port at all (nothing scrapes it): no delegated authentication either,
    # whose configmap RBAC only allows once the apiserver's bootstrap policy is written.
    flags = {
        "kubeconfig": "{dir}/kubeconfig",
        "port": 0,
        "secure-port": 0,
        "leader-elect": str(leader_elect).lower(),
        "service-account-private-key-file": "{dir}/sa.key",
        "root-ca-file": "{dir}/trust.crt",
        "use-service-account-credentials": "true",
        "cluster-cidr": str(net.pods),
        "allocate-node-cidrs": "false",
        "service-cluster-ip-range": str(net.services),
        "flex-volume-plugin-dir": "{dir}/flexvolume",
        "profiling": "false",
    }
    return base.Daemon(
        name="kube-controller-manager",
        argv=(bins["kube-controller-manager"], *_flags(flags)),
        files={
            "kubeconfig": _local_kubeconfig(secrets, "system:kube-controller-manager"),
            "sa.key": secrets.sa_key,
            "trust.crt": secrets.trust,
        },
    )


def scheduler(bins: Mapping[str, str], secrets: Secrets, *, leader_elect: bool) -> base.Daemon:
    flags = {
        "kubeconfig": "{dir}/kubeconfig",
        "port": 0,
        "secure-port": 0,
        "leader-elect": str(leader_elect).lower(),
        "profiling": "false",
    }
    return base.Daemon(
        name="kube-scheduler",
        argv=(bins["kube-scheduler"], *_flags(flags)),
        files={"kubeconfig": _local_kubeconfig(secrets, "system:kube-scheduler")},
    )


# --- workers -------------------------------------------------------------------------
def kubelet(
    bins: Mapping[str, str],
    secrets: Secrets,
    node: base.Node,
    net: Network,
    *,
    server: str,
    cni_bin_dir: str,
    status_frequency: float,
    dns: Sequence[str],
    labels: Mapping[str, str],
    taints: Sequence[Mapping[str, str]],
) -> base.Daemon:
    key, cert = secrets.cert(
        f"system:node:{node.name}", organizations=("system:nodes",), client=True
    )
    skey, scert = secrets.cert(
        node.name, server_names=(node.name,), server_addresses=(node.address,)
    )
    config = {
        "kind": "KubeletConfiguration",
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "address": node.address,
        "port": KUBELET_PORT,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "tlsCertFile": "{dir}/serving.crt",
        "tlsPrivateKeyFile": "{dir}/serving.key",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": "{dir}/trust.crt"},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        "clusterDomain": "cluster.local",
        "resolvConf": "{dir}/resolv.conf",
        # Images are loaded, never pulled: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "50Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
        },
        "nodeStatusUpdateFrequency": f"{status_frequency:g}s",
        "volumePluginDir": "{dir}/volume-plugins",
    }
    cni = {
        "cniVersion": "0.4.0",
        "name": "magnum",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": "{dir}/ipam",
                    "ranges": [[{"subnet": str(net.pod_subnet(node))}]],
                    "routes": [{"dst": str(net.pods)}, {"dst": str(net.services)}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    flags: dict[str, object] = {
        "config": "{dir}/kubelet.json",
        "kubeconfig": "{dir}/kubeconfig",
        # The node's own /var/lib/kubelet (a private tmpfs, charged to the node's cgroup):
        # the kubelet makes unix sockets below its root, and the daemon's directory may be
        # too deep for a socket path.
        "root-dir": "/var/lib/kubelet",
        "cert-dir": "{dir}/pki",
        "hostname-override": node.name,
        "node-ip": node.address,
        "cloud-provider": "",
        "container-runtime": "docker",
        "experimental-dockershim-root-directory": "{dir}/dockershim",
        "pod-infra-container-image": PAUSE_IMAGE,
        "network-plugin": "cni",
        "cni-bin-dir": cni_bin_dir,
        "cni-conf-dir": "{dir}/cni",
        "cni-cache-dir": "{dir}/cni-cache",
        "node-labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
    }
    if taints:
        flags["register-with-taints"] = ",".join(
            f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in taints
        )
    resolv = "".join(f"nameserver {d}\n" for d in dns) or "nameserver 127.0.0.1\n"
    return base.Daemon(
        name="kubelet",
        argv=(bins["kubelet"], *_flags(flags)),
        files={
            "kubelet.json": json.dumps(config, indent=1).encode(),
            "kubeconfig": kubeconfig(
                server, secrets.trust, cert, key, user=f"system:node:{node.name}"
            ),
            "serving.crt": scert,
            "serving.key": skey,
            "trust.crt": secrets.trust,
            "cni/10-magnum.conflist": json.dumps(cni, indent=1).encode(),
            "resolv.conf": resolv.encode(),
        },
    )


def kube_proxy(
    bins: Mapping[str, str], secrets: Secrets, node: base.Node, net: Network, *, server: str
) -> base.Daemon:
    key, cert = secrets.cert("system:kube-proxy", client=True)
    flags = {
        "kubeconfig": "{dir}/kubeconfig",
        "hostname-override": node.name,
        "bind-address": node.address,
        "proxy-mode": "iptables",
        "cluster-cidr": str(net.pods),
        "nodeport-addresses": f"{node.address}/32",
        # conntrack tables are the host's: never resize them from a node
        "conntrack-max-per-core": 0,
        "conntrack-tcp-timeout-established": 0,
        "conntrack-tcp-timeout-close-wait": 0,
        "oom-score-adj": 0,
        "metrics-bind-address": "127.0.0.1:10249",
        "healthz-bind-address": "127.0.0.1:10256",
    }
    return base.Daemon(
        name="kube-proxy",
        argv=(bins["kube-proxy"], *_flags(flags)),
        files={
            "kubeconfig": kubeconfig(server, secrets.trust, cert, key, user="system:kube-proxy")
        },
    )
