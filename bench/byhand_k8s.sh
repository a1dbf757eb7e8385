#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The by-hand baseline for the Kubernetes part of bench/bay_bench.py: a 1+N Kubernetes
# 1.20 bay made with the steps of the local infrastructure + kubernetes drivers, but no
# service:
#   * PKI with openssl (EC P-256): one CA; etcd server+peer, apiserver serving (service IP
#     and node IP SANs), apiserver kubelet-client and etcd-client, controller-manager,
#     scheduler, kube-proxy and kubelet client certs, kubelet serving certs; an EC key
#     pair for service-account tokens;
#   * a bridge + FORWARD rule; per node a netns + veth + cgroup (the m1.small flavor:
#     512 MB, one CPU) + a holder (its own mount and UTS namespaces: inherited mounts
#     dropped, tmpfs on /run, /var/log, /var/lib/kubelet) + dockerd (no bridge, no
#     iptables) with busybox loaded; the pause image imported on workers;
#   * routes between the nodes' pod subnets; etcd, kube-apiserver, controller-manager and
#     scheduler on the master, kubelet and kube-proxy on workers, flags as the driver's
#     components.py; the default ServiceAccount made as the driver makes it;
#   * create is done when every worker is Ready and the account has its token; then a
#     tenant cert (CN=bench, O=system:masters), `kubectl run` busybox, until Running;
#   * idle memory per node, then a fast delete (SIGKILL the node cgroups, remove netns,
#     veths, cgroups, files, bridge and rule).
# The control plane starts as soon as the master's namespaces exist, beside the nodes'
# dockerds (the order a person would pick; the service builds every node first).
#
#   usage: byhand_k8s.sh WORKERS LAB_DIR BUSYBOX_TAR [IDLE_SECONDS]
# BHK_UNTAINT=1 adds a step no driver makes (see untaint); BHK_DEBUG=1 prints the pod's
# progress to stderr and keeps the nodes' logs in LAB_DIR/logs.
# Prints key=value lines (seconds since the start, except delete_s): nodes_s (every
# node's dockerd up with its images, the kubelets started), api_s (/readyz ok), ready_s (workers Ready), create_s (and the
# service account's token), pod_s (the pod Running), delete_s, and idle memory per node
# in MB: mem_cg_usage_mb, mem_cg_rss_mb (all nodes), mem_master_*, mem_worker_*.
# Everything it makes is named bhk<pid>: bridge br<tag>, veths v<tag><i>, netns <tag>-<i>,
# cgroups magnum-bhk/<tag>, iptables comment <tag>; node addresses are 10.248.X.0/24.
# Needs root, iproute2, iptables, openssl, curl, jq, util-linux, docker.io, etcd-server,
# containernetworking-plugins and scripts/build-kubernetes' binaries ($K8S_BIN).
set -euo pipefail
# Under a subreaper (tini), so that the node processes this script orphans are reaped.
if [ -z "${BHK_REAPED:-}" ]; then BHK_REAPED=1 exec docker-init -s -- "$0" "$@"; fi
WORKERS=$1 LAB=$2 TAR=$3 IDLE=${4:-0}
BIN=${K8S_BIN:-/var/cache/magnum/kubernetes/current/bin}
ETCD=${ETCD:-etcd}
CNI_BIN=${CNI_BIN:-/usr/lib/cni}
TAG=bhk$$
BR=br$TAG CG=magnum-bhk/$TAG
ROOT=$LAB/$TAG PKI=$LAB/$TAG/pki
CTRL="memory pids cpu cpuacct blkio"
PATHS=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
POD_CIDR=10.100.0.0/16 SVC_CIDR=10.254.0.0/16 SVC_IP=10.254.0.1
STATUS_EVERY=2s TIMEOUT=120
PAUSE=magnum/pause:3.4

now() { date +%s.%N; }
debug() { [ -z "${BHK_DEBUG:-}" ] || echo "$(date +%T.%N | cut -c1-12) $*" >&2; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
name_of() { if [ "$1" = 0 ]; then echo master-0; else echo "node-$(($1 - 1))"; fi; }
addr_of() { echo "$NET.$(($1 + 2))"; }
pods_of() { echo "10.100.$(($1 + 2)).0/24"; }   # the driver's: by the address' last byte
dir_of() { echo "$ROOT/n$1"; }
cgprocs() { local c; for c in $CTRL; do printf '%s ' "/sys/fs/cgroup/$c/$CG/n$1/cgroup.procs"; done; }
die() {
  echo "byhand_k8s: $*" >&2
  local f
  for f in "$ROOT"/n*/*/log; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
  done
  exit 1
}
# until TIMEOUT: run "$@" until it succeeds
until_ok() {
  local what=$1 end=$((SECONDS + TIMEOUT)); shift
  until "$@"; do
    [ $SECONDS -lt $end ] || die "timed out: $what"
    sleep 0.1
  done
}

# A node address range of our own: 10.248.X.0/24, unused on this host.
used=$(ip -4 -o addr show; ip -4 route show)
for _ in $(seq 50); do
  NET=10.248.$((RANDOM % 250))
  grep -qE "(^| )${NET//./\\.}\\." <<<"$used" || break
done
MASTER=$(addr_of 0)
API=https://$MASTER:6443

# --- PKI ----------------------------------------------------------------------------
# cert NAME SUBJECT EKU [SAN]: a key and a certificate of the CA
cert() {
  local ext="keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$3"
  [ -z "${4:-}" ] || ext+="
subjectAltName=$4"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$PKI/$1.key" \
    -subj "$2" 2>/dev/null |
    openssl x509 -req -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -days 30 -sha256 \
      -set_serial "0x$(printf '%04x%04x%04x%04x' $RANDOM $RANDOM $RANDOM $RANDOM)" \
      -extfile <(printf '%s\n' "$ext") -out "$PKI/$1.crt" 2>/dev/null
  chmod 600 "$PKI/$1.key"
}
pki() {
  local i n pids=()
  mkdir -p -m 700 "$PKI"
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$PKI/ca.key" -subj "/CN=bay $TAG CA" -days 30 -sha256 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$PKI/ca.crt" 2>/dev/null
  cert etcd "/CN=$(name_of 0)" serverAuth,clientAuth \
    "DNS:localhost,DNS:$(name_of 0),IP:127.0.0.1,IP:$MASTER" & pids+=($!)
  cert apiserver /CN=kube-apiserver serverAuth \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,DNS:$(name_of 0),IP:$MASTER,IP:$SVC_IP,IP:127.0.0.1" & pids+=($!)
  cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client clientAuth & pids+=($!)
  cert apiserver-etcd-client /CN=kube-apiserver-etcd-client clientAuth & pids+=($!)
  cert controller-manager /CN=system:kube-controller-manager clientAuth & pids+=($!)
  cert scheduler /CN=system:kube-scheduler clientAuth & pids+=($!)
  cert admin /O=system:masters/CN=admin clientAuth & pids+=($!)
  cert kube-proxy /CN=system:kube-proxy clientAuth & pids+=($!)
  for i in $(seq 1 "$WORKERS"); do
    n=$(name_of "$i")
    cert "kubelet-$n" "/O=system:nodes/CN=system:node:$n" clientAuth & pids+=($!)
    cert "serving-$n" "/CN=$n" serverAuth "DNS:$n,IP:$(addr_of "$i")" & pids+=($!)
  done
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI/sa.key" 2>/dev/null
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null
  for i in "${pids[@]}"; do wait "$i" || die "a certificate could not be made"; done
}

# kubeconfig FILE SERVER CERTNAME: a kubeconfig naming the CA and a cert of $PKI
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: bay
  cluster: {server: "$2", certificate-authority: "$PKI/ca.crt"}
users:
- name: u
  user: {client-certificate: "$PKI/$3.crt", client-key: "$PKI/$3.key"}
contexts:
- name: bay
  context: {cluster: bay, user: u}
current-context: bay
EOF
}

# --- nodes --------------------------------------------------------------------------
# The holder: joins the node's cgroups, names the host, drops every mount inherited from
# the host but /, /proc, /sys, /dev and what our tree lives on or below, mounts the
# private tmpfs, hides the host's kernel log, says it is ready, then only sleeps.
# shellcheck disable=SC2016 # expanded by the holder's own shell
HOLD='
set -e
host=$1 tree=$2 ready=$3; shift 3
for f in $1; do echo $$ > "$f"; done; shift
hostname "$host"
awk "{print \$2}" /proc/self/mounts | sort -ru | while read -r m; do
  case $m in /|/proc|/proc/*|/sys|/sys/*|/dev|/dev/*) continue ;; esac
  case $tree/ in "$m"/*) continue ;; esac
  case $m/ in "$tree"/*) continue ;; esac
  umount -l "$m" 2>/dev/null || true
done
for d in "$@"; do mount -t tmpfs -o mode=0755,size=1g "$host-private" "$d"; done
if [ -c /dev/kmsg ]; then mount --bind /dev/null /dev/kmsg; fi
: > "$ready"
exec sleep infinity
'
# shellcheck disable=SC2016
JOIN='for f in $1; do echo $$ > "$f"; done; shift; cd /; exec "$@"'

# in_node I NAME ARGV...: run ARGV inside node I (its holder's namespaces, its cgroups),
# in its own session, with a clean environment; log and pid in the node's NAME dir
in_node() {
  local i=$1 name=$2 d; shift 2
  d=$(dir_of "$i")
  mkdir -p -m 700 "$d/$name"
  setsid nsenter -t "$(cat "$d/holder.pid")" -m -u -n -- \
    env -i PATH=$PATHS sh -c "$JOIN" sh "$(cgprocs "$i")" "$@" </dev/null >"$d/$name/log" 2>&1 &
  echo $! >"$d/$name.pid"
}
alive() { [ -s "$(dir_of "$1")/$2.pid" ] && kill -0 "$(cat "$(dir_of "$1")/$2.pid")" 2>/dev/null; }
dk() { local i=$1; shift; docker -H "unix://$(dir_of "$i")/run/docker.sock" "$@"; }

# node_up I: network, cgroup, holder, dockerd, images
node_up() {
  local i=$1 d ns=$TAG-$1 c j
  d=$(dir_of "$i")
  mkdir -p -m 700 "$d/run" "$d/data"
  ip netns add "$ns"
  ip link add "v$TAG$i" type veth peer name eth0 netns "$ns"
  ip link set "v$TAG$i" master "$BR" up
  {
    printf 'link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\n' "$(addr_of "$i")"
    for j in $(seq 0 "$WORKERS"); do  # host-gw: every other node's pods via that node
      [ "$j" = "$i" ] || echo "route replace $(pods_of "$j") via $(addr_of "$j")"
    done
    echo "route replace $SVC_CIDR dev eth0"
  } | ip -n "$ns" -b -
  # the node's own forwarding settings (these are its network namespace's, not the host's)
  nsenter --net="/run/netns/$ns" -- sysctl -q -w net.ipv4.ip_forward=1 \
    net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.bridge.bridge-nf-call-iptables=1
  for c in $CTRL; do mkdir -p "/sys/fs/cgroup/$c/$CG/n$i"; done
  echo $((512 * 1024 * 1024)) >"/sys/fs/cgroup/memory/$CG/n$i/memory.limit_in_bytes"
  echo 100000 >"/sys/fs/cgroup/cpu/$CG/n$i/cpu.cfs_period_us"
  echo 100000 >"/sys/fs/cgroup/cpu/$CG/n$i/cpu.cfs_quota_us"
  setsid nsenter --net="/run/netns/$ns" -- unshare --mount --uts --propagation private -- \
    sh -c "$HOLD" sh "$(name_of "$i")" "$ROOT" "$d/holder.ready" "$(cgprocs "$i")" \
    /run /var/log /var/lib/kubelet </dev/null >"$d/holder.log" 2>&1 &
  echo $! >"$d/holder.pid"
  until [ -e "$d/holder.ready" ]; do
    kill -0 "$(cat "$d/holder.pid")" 2>/dev/null || die "holder of node $i: $(cat "$d/holder.log")"
    sleep 0.01
  done
  cat >"$d/daemon.json" <<EOF
{"data-root": "$d/data", "exec-root": "$d/run/exec", "pidfile": "$d/run/dockerd.pid",
 "hosts": ["unix://$d/run/docker.sock", "unix:///run/docker.sock"],
 "cgroup-parent": "/$CG/n$i/ctr", "log-level": "warn", "labels": [],
 "bridge": "none", "iptables": false, "ip-masq": false}
EOF
  in_node "$i" dockerd env DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 docker-init -s -- dockerd --config-file "$d/daemon.json"
  until curl -sf --unix-socket "$d/run/docker.sock" http://d/_ping >/dev/null 2>&1; do
    alive "$i" dockerd || die "dockerd of node $i exited"
    sleep 0.02
  done
  dk "$i" load -q -i "$TAR" >/dev/null
  if [ "$i" != 0 ]; then
    dk "$i" import --change 'ENTRYPOINT ["/pause"]' "$ROOT/pause.tar" "$PAUSE" >/dev/null
    dk "$i" tag local/busybox:latest busybox:latest
  fi
  : >"$d/up"
}

# --- Kubernetes ---------------------------------------------------------------------
master_up() {
  local d x
  d=$(dir_of 0)
  until_ok "the master's namespaces" test -e "$d/holder.ready"
  x=$d/etcd
  in_node 0 etcd "$ETCD" --name="$(name_of 0)" --data-dir="$x/data" \
    --listen-client-urls="https://127.0.0.1:2379,https://$MASTER:2379" \
    --advertise-client-urls="https://$MASTER:2379" \
    --listen-peer-urls="https://$MASTER:2380" --initial-advertise-peer-urls="https://$MASTER:2380" \
    --initial-cluster="$(name_of 0)=https://$MASTER:2380" --initial-cluster-state=new \
    --initial-cluster-token="$TAG" --cert-file="$PKI/etcd.crt" --key-file="$PKI/etcd.key" \
    --trusted-ca-file="$PKI/ca.crt" --client-cert-auth=true --peer-cert-file="$PKI/etcd.crt" \
    --peer-key-file="$PKI/etcd.key" --peer-trusted-ca-file="$PKI/ca.crt" \
    --peer-client-cert-auth=true --logger=zap --log-level=warn
  x=$d/kube-apiserver
  in_node 0 kube-apiserver "$BIN/kube-apiserver" --advertise-address="$MASTER" \
    --bind-address=0.0.0.0 --secure-port=6443 --insecure-port=0 \
    --etcd-servers="https://$MASTER:2379" --etcd-cafile="$PKI/ca.crt" \
    --etcd-certfile="$PKI/apiserver-etcd-client.crt" --etcd-keyfile="$PKI/apiserver-etcd-client.key" \
    --service-cluster-ip-range="$SVC_CIDR" --client-ca-file="$PKI/ca.crt" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --allow-privileged=true --cert-dir="$x/certs" --profiling=false
  mkdir -p -m 700 "$d/kube-controller-manager" "$d/kube-scheduler"
  kubeconfig "$d/kube-controller-manager/kubeconfig" https://127.0.0.1:6443 controller-manager
  kubeconfig "$d/kube-scheduler/kubeconfig" https://127.0.0.1:6443 scheduler
  controllers_up
}
# started with the apiserver (their own start-up overlaps its), again whenever they exited
controllers_up() {
  local d
  d=$(dir_of 0)
  alive 0 kube-controller-manager ||
    in_node 0 kube-controller-manager "$BIN/kube-controller-manager" \
      --kubeconfig="$d/kube-controller-manager/kubeconfig" --port=0 --secure-port=0 \
      --leader-elect=false --service-account-private-key-file="$PKI/sa.key" \
      --root-ca-file="$PKI/ca.crt" --use-service-account-credentials=true \
      --cluster-cidr="$POD_CIDR" --allocate-node-cidrs=false \
      --service-cluster-ip-range="$SVC_CIDR" \
      --flex-volume-plugin-dir="$d/kube-controller-manager/flexvolume" --profiling=false
  alive 0 kube-scheduler ||
    in_node 0 kube-scheduler "$BIN/kube-scheduler" --kubeconfig="$d/kube-scheduler/kubeconfig" \
      --port=0 --secure-port=0 --leader-elect=false --profiling=false
}

# worker_up I: once its dockerd runs with the images in, the kubelet and kube-proxy
worker_up() {
  local i=$1 d n a k
  d=$(dir_of "$i") n=$(name_of "$i") a=$(addr_of "$i")
  until [ -e "$d/up" ]; do sleep 0.02; done
  k=$d/kubelet
  mkdir -p -m 700 "$k/cni"
  kubeconfig "$k/kubeconfig" "$API" "kubelet-$n"
  echo "nameserver 127.0.0.1" >"$k/resolv.conf"
  cat >"$k/kubelet.json" <<EOF
{"kind": "KubeletConfiguration", "apiVersion": "kubelet.config.k8s.io/v1beta1",
 "address": "$a", "port": 10250, "readOnlyPort": 0, "healthzBindAddress": "127.0.0.1",
 "tlsCertFile": "$PKI/serving-$n.crt", "tlsPrivateKeyFile": "$PKI/serving-$n.key",
 "authentication": {"anonymous": {"enabled": false}, "webhook": {"enabled": false},
                    "x509": {"clientCAFile": "$PKI/ca.crt"}},
 "authorization": {"mode": "AlwaysAllow"}, "cgroupDriver": "cgroupfs", "cgroupsPerQOS": false,
 "enforceNodeAllocatable": [], "failSwapOn": false, "clusterDomain": "cluster.local",
 "resolvConf": "$k/resolv.conf", "imageGCHighThresholdPercent": 100,
 "imageGCLowThresholdPercent": 99,
 "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
 "nodeStatusUpdateFrequency": "$STATUS_EVERY", "volumePluginDir": "$k/volume-plugins"}
EOF
  cat >"$k/cni/10-bay.conflist" <<EOF
{"cniVersion": "0.4.0", "name": "bay", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$k/ipam", "ranges": [[{"subnet": "$(pods_of "$i")"}]],
            "routes": [{"dst": "$POD_CIDR"}, {"dst": "$SVC_CIDR"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  in_node "$i" kubelet "$BIN/kubelet" --config="$k/kubelet.json" --kubeconfig="$k/kubeconfig" \
    --root-dir=/var/lib/kubelet --cert-dir="$k/pki" --hostname-override="$n" --node-ip="$a" \
    --cloud-provider= --container-runtime=docker \
    --experimental-dockershim-root-directory="$k/dockershim" \
    --pod-infra-container-image="$PAUSE" --network-plugin=cni --cni-bin-dir="$CNI_BIN" \
    --cni-conf-dir="$k/cni" --cni-cache-dir="$k/cni-cache" \
    --node-labels=magnum.openstack.org/nodegroup=default-worker,magnum.openstack.org/role=worker
  mkdir -p -m 700 "$d/kube-proxy"
  kubeconfig "$d/kube-proxy/kubeconfig" "$API" kube-proxy
  in_node "$i" kube-proxy "$BIN/kube-proxy" --kubeconfig="$d/kube-proxy/kubeconfig" \
    --hostname-override="$n" --bind-address="$a" --proxy-mode=iptables \
    --cluster-cidr="$POD_CIDR" --nodeport-addresses="$a/32" --conntrack-max-per-core=0 \
    --conntrack-tcp-timeout-established=0 --conntrack-tcp-timeout-close-wait=0 \
    --oom-score-adj=0 --metrics-bind-address=127.0.0.1:10249 \
    --healthz-bind-address=127.0.0.1:10256
}

# --- checks through the API, as the conductor makes them ------------------------------
api() { curl -s --max-time 2 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"; }
api_ready() {
  alive 0 etcd || die "etcd exited"
  alive 0 kube-apiserver || die "kube-apiserver exited"
  controllers_up
  [ "$(api "$API/readyz" 2>/dev/null)" = ok ]
}
workers_ready() {
  local i
  for i in $(seq 1 "$WORKERS"); do
    alive "$i" kubelet || die "kubelet of node $i exited"
    alive "$i" kube-proxy || die "kube-proxy of node $i exited"
  done
  [ "$(api "$API/api/v1/nodes" 2>/dev/null | jq '[.items[]? | select(any(.status.conditions[]?;
      .type == "Ready" and .status == "True"))] | length' 2>/dev/null)" = "$WORKERS" ]
}
# The default account made as the driver makes it (the controller that would make it
# starts up to 6 s after the tokens controller), until it has its token.
account_ready() {
  local code
  code=$(api -o "$ROOT/sa.json" -w '%{http_code}' \
    "$API/api/v1/namespaces/default/serviceaccounts/default" 2>/dev/null) || true
  if [ "$code" = 404 ]; then
    api -o /dev/null -X POST -H 'Content-Type: application/json' \
      -d '{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}' \
      "$API/api/v1/namespaces/default/serviceaccounts" 2>/dev/null || true
    return 1
  fi
  [ "$code" = 200 ] && jq -e '(.secrets // []) | length > 0' "$ROOT/sa.json" >/dev/null 2>&1
}

# An experiment, not a driver step (BHK_UNTAINT=1): the not-ready taint the apiserver puts
# on new nodes removed once they are Ready, instead of waiting for the controller-manager's
# node lifecycle controller, which does it only once the controller-manager has started
# every controller (seconds after the nodes are Ready); pods are not scheduled until then.
untaint() {
  local i
  for i in $(seq 1 "$WORKERS"); do
    api -o /dev/null -X PATCH -H 'Content-Type: application/json-patch+json' \
      -d '[{"op": "test", "path": "/spec/taints", "value": [{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]}, {"op": "remove", "path": "/spec/taints"}]' \
      "$API/api/v1/nodes/$(name_of "$i")" || true
  done
}

# --- a pod, as a tenant runs it -------------------------------------------------------
pod_running() {
  local k fd watch phase=""
  cert bench /O=system:masters/CN=bench clientAuth
  kubeconfig "$ROOT/bench.kubeconfig" "$API" bench
  k=("$BIN/kubectl" --kubeconfig="$ROOT/bench.kubeconfig" --cache-dir="$ROOT/kube-cache")
  debug "pod: kubeconfig made"
  "${k[@]}" run bench --image=busybox:latest --image-pull-policy=IfNotPresent --restart=Never \
    --command -- sleep 3600 >/dev/null || die "kubectl run failed"
  exec {fd}< <(exec timeout "$TIMEOUT" "${k[@]}" get pod bench -w \
    -o 'jsonpath={.status.phase}{"\n"}' 2>/dev/null)
  watch=$!
  debug "pod: created"
  while read -r -u "$fd" phase; do
    debug "pod: ${phase:-no phase}"
    [ "$phase" != Running ] || break
  done
  kill "$watch" 2>/dev/null || true
  exec {fd}<&-
  [ "$phase" = Running ] || die "the pod is not Running (last phase: ${phase:-none})"
  [ -z "${BHK_DEBUG:-}" ] || "${k[@]}" get pod bench -o jsonpath='{range .status.conditions[*]}{.type}={.lastTransitionTime} {end}{"\n"}' >&2
}

# --- delete ---------------------------------------------------------------------------
DELETED=""
delete() {
  local h pids rms
  [ -z "$DELETED" ] || return 0
  DELETED=1
  set +e
  disown -a   # reaped quietly
  for _ in $(seq 200); do
    # shellcheck disable=SC2046 # one pid a word
    pids=$(cat $(find "/sys/fs/cgroup/pids/$CG" -name cgroup.procs 2>/dev/null) 2>/dev/null | sort -un)
    [ -z "$pids" ] && break
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    sleep 0.02
  done
  debug "delete: killed"
  ip -o netns list | awk -v t="$TAG-" 'index($1, t) == 1 {print $1}' |
    while read -r ns; do ip netns del "$ns"; done
  debug "delete: netns"
  for _ in $(seq 50); do   # a cgroup whose last process is still exiting is busy
    for h in /sys/fs/cgroup/*/; do
      [ -d "$h$CG" ] && find "$h$CG" -depth -type d -exec rmdir {} + 2>/dev/null
      rmdir "${h}magnum-bhk" 2>/dev/null
    done
    compgen -G "/sys/fs/cgroup/*/$CG" >/dev/null || break
    sleep 0.02
  done
  debug "delete: cgroups"
  while iptables -w -D FORWARD -i "$BR" -o "$BR" -m comment --comment "$TAG" -j ACCEPT 2>/dev/null; do :; done
  ip link show "$BR" >/dev/null 2>&1 && ip link del "$BR"
  debug "delete: bridge"
  rms=()
  for h in "$ROOT"/n*; do rm -rf "$h" & rms+=($!); done   # the nodes' files at once
  [ ${#rms[@]} -eq 0 ] || wait "${rms[@]}"
  rm -rf "$ROOT"
  debug "delete: files"
  set -e
}
on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  # shellcheck disable=SC2046
  kill $(jobs -p) 2>/dev/null || true
  delete
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# --- the run --------------------------------------------------------------------------
[ -d /var/lib/kubelet ] || mkdir -p /var/lib/kubelet   # the mount point; left, as the driver does
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl pause; do
  [ -x "$BIN/$b" ] || die "$BIN/$b is missing (scripts/build-kubernetes)"
done
t0=$(now)
mkdir -p -m 700 "$ROOT"
tar -C "$BIN" -chf "$ROOT/pause.tar" pause
ip link add "$BR" type bridge
ip addr add "$NET.1/24" dev "$BR"
ip link set "$BR" up
iptables -w -I FORWARD 1 -i "$BR" -o "$BR" -m comment --comment "$TAG" -j ACCEPT
nodes=()
for i in $(seq 0 "$WORKERS"); do node_up "$i" & nodes+=($!); done
pki
master_up
starts=()
for i in $(seq 1 "$WORKERS"); do worker_up "$i" & starts+=($!); done
for p in "${nodes[@]}" "${starts[@]}"; do wait "$p" || die "a node could not be made"; done
nodes_s=$(since "$t0")
until_ok "the Kubernetes API" api_ready
api_s=$(since "$t0")
controllers_up
until_ok "every worker Ready" workers_ready
ready_s=$(since "$t0")
[ -z "${BHK_UNTAINT:-}" ] || untaint
until_ok "the default service account" account_ready
create_s=$(since "$t0")
pod_running
pod_s=$(since "$t0")
echo "nodes_s=$nodes_s"
echo "api_s=$api_s"
echo "ready_s=$ready_s"
echo "create_s=$create_s"
echo "pod_s=$pod_s"
if [ "$IDLE" != 0 ]; then
  sleep "$IDLE"
  u=0 r=0 mu=0 mr=0
  for i in $(seq 0 "$WORKERS"); do
    cu=$(cat "/sys/fs/cgroup/memory/$CG/n$i/memory.usage_in_bytes")
    cr=$(awk '/^total_rss /{print $2}' "/sys/fs/cgroup/memory/$CG/n$i/memory.stat")
    u=$((u + cu)) r=$((r + cr))
    if [ "$i" = 0 ]; then mu=$cu mr=$cr; fi
  done
  echo "mem_cg_usage_mb=$((u / (WORKERS + 1) / 1048576))"
  echo "mem_cg_rss_mb=$((r / (WORKERS + 1) / 1048576))"
  echo "mem_master_usage_mb=$((mu / 1048576))"
  echo "mem_master_rss_mb=$((mr / 1048576))"
  echo "mem_worker_usage_mb=$(((u - mu) / WORKERS / 1048576))"
  echo "mem_worker_rss_mb=$(((r - mr) / WORKERS / 1048576))"
fi
if [ -n "${BHK_DEBUG:-}" ]; then   # the nodes' logs kept for a look
  for i in $(seq 0 "$WORKERS"); do echo "n$i $(tr '\n' ' ' <"/sys/fs/cgroup/cpu/$CG/n$i/cpu.stat")" >&2; done
  rm -rf "$LAB/logs" && mkdir -p "$LAB/logs"
  for f in "$ROOT"/n*/*/log; do cp "$f" "$LAB/logs/$(basename "$(dirname "$(dirname "$f")")")-$(basename "$(dirname "$f")").log"; done
fi
t0=$(now)
delete
echo "delete_s=$(since "$t0")"
