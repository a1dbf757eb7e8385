# SPDX-License-Identifier: Apache-2.0
"""Settings of the Kubernetes COE driver ([kubernetes] section).

The driver runs Kubernetes' own binaries on each node (through the infrastructure's
NodeHost): etcd and the control plane on masters, kubelet and kube-proxy on workers.
scripts/build-kubernetes builds them from Debian's source package and caches them.
"""

from __future__ import annotations

from oslo_config import cfg

GROUP = "kubernetes"

OPTS: list[cfg.Opt] = [
    cfg.StrOpt(
        "bin_dir",
        default="/var/cache/magnum/kubernetes/current/bin",
        help="Directory holding kube-apiserver, kube-controller-manager, kube-scheduler, "
        "kubelet, kube-proxy, kubectl and pause (what scripts/build-kubernetes makes).",
    ),
    cfg.StrOpt("etcd", default="etcd", help="The etcd server binary (Debian's etcd-server)."),
    cfg.StrOpt(
        "cni_bin_dir",
        default="/usr/lib/cni",
        help="Directory of the CNI plugins (bridge, host-local, portmap, loopback).",
    ),
    cfg.FloatOpt(
        "node_status_update_frequency",
        default=2.0,
        min=1.0,
        help="Seconds between a kubelet's node status reports. Short makes nodes Ready "
        "sooner after start (about 9 s instead of 18 s) for about 1.5 % of a core per node.",
    ),
    cfg.FloatOpt(
        "start_timeout",
        default=120.0,
        min=5.0,
        help="Seconds a control plane or a node may take to come up before the operation "
        "fails naming the component and its last log line.",
    ),
    cfg.FloatOpt(
        "drain_timeout",
        default=60.0,
        min=1.0,
        help="Seconds a node being removed may take to have its pods evicted.",
    ),
]
