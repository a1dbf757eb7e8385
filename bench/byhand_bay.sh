#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The by-hand baseline for bench/bay_bench.py: build a 1+N Swarm bay with the same steps
# as the local + swarm drivers, but no service: per-bay CA and per-node server certs
# (openssl, EC P-256), bridge + FORWARD rule, per node a netns + veth + cgroup + its own
# dockerd (behind docker-init, TLS on :2376), `docker load` of the busybox image, swarm
# init/join, wait until every node is Ready; then measure idle memory; then fast delete
# (SIGKILL the node cgroups, unmount, remove netns/veth/cgroups/files, bridge, rule).
#
#   usage: byhand_bay.sh WORKERS LAB_DIR BUSYBOX_TAR [IDLE_SECONDS]
# Prints key=value lines: create_s, delete_s, mem_cg_usage_mb, mem_cg_rss_mb (per node).
# Needs root, iproute2, iptables, openssl, util-linux and the docker.io binaries.
set -euo pipefail
WORKERS=$1 LAB=$2 TAR=$3 IDLE=${4:-0}
N=$((WORKERS + 1))
BAY=bh$$                               # short: names are limited to 15 characters
BR=br$BAY NET=10.249.$((RANDOM % 200)) CG=magnum-byhand/$BAY
ROOT=$LAB/$BAY RUN=/run/bh-$BAY
CTRL="memory pids cpu cpuacct blkio"
now() { date +%s.%N; }
ip_of() { echo "$NET.$((10 + $1))"; }
sock() { echo "unix://$RUN/n$1/docker.sock"; }
dk() { local i=$1; shift; docker -H "$(sock "$i")" "$@"; }

pki() {
  local d=$ROOT/pki i
  mkdir -p "$d"
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/ca-key.pem" 2>/dev/null
  openssl req -x509 -new -key "$d/ca-key.pem" -subj "/CN=bay $BAY CA" -days 30 \
    -out "$d/ca.pem" 2>/dev/null
  for i in $(seq 1 $N); do
    openssl ecparam -name prime256v1 -genkey -noout -out "$d/n$i-key.pem" 2>/dev/null
    openssl req -new -key "$d/n$i-key.pem" -subj "/CN=$BAY-n$i" 2>/dev/null |
      openssl x509 -req -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 30 \
        -extfile <(printf 'subjectAltName=IP:%s,IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$(ip_of $i)") \
        -out "$d/n$i-cert.pem" 2>/dev/null
  done
  openssl ecparam -name prime256v1 -genkey -noout -out "$d/key.pem" 2>/dev/null
  openssl req -new -key "$d/key.pem" -subj "/CN=admin" 2>/dev/null |
    openssl x509 -req -CA "$d/ca.pem" -CAkey "$d/ca-key.pem" -CAcreateserial -days 30 \
      -extfile <(printf 'extendedKeyUsage=clientAuth\n') -out "$d/cert.pem" 2>/dev/null
}

node_up() {   # i: netns + veth + cgroup + dockerd with TLS, until its socket answers
  local i=$1 ns=$BAY-n$1 d=$ROOT/n$1 r=$RUN/n$1 c cgs=()
  ip netns add "$ns"
  ip link add "v$BAY$i" type veth peer name eth0 netns "$ns"
  ip link set "v$BAY$i" master "$BR" up
  printf 'link set lo up\naddr add %s/24 dev eth0\nlink set eth0 up\n' "$(ip_of $i)" | ip -n "$ns" -b -
  for c in $CTRL; do mkdir -p "/sys/fs/cgroup/$c/$CG/n$i"; cgs+=("/sys/fs/cgroup/$c/$CG/n$i/cgroup.procs"); done
  echo $((512 * 1024 * 1024)) > "/sys/fs/cgroup/memory/$CG/n$i/memory.limit_in_bytes"
  mkdir -p "$d/data" "$r"
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1 \
    nsenter --net="/run/netns/$ns" -- unshare --uts -- sh -c \
    'hostname "$1"; shift; for f in $1; do echo $$ > "$f"; done; shift; exec "$@"' sh \
    "$ns" "${cgs[*]}" docker-init -s -- dockerd --data-root "$d/data" --exec-root "$r/exec" \
    --pidfile "$r/dockerd.pid" -H "$(sock "$i")" -H "tcp://$(ip_of $i):2376" \
    --tlsverify --tlscacert "$ROOT/pki/ca.pem" --tlscert "$ROOT/pki/n$i-cert.pem" \
    --tlskey "$ROOT/pki/n$i-key.pem" --bip "172.31.$i.1/24" --cgroup-parent "/$CG/n$i/ctr" \
    --log-level warn >"$d/dockerd.log" 2>&1 </dev/null &
  until curl -sf --unix-socket "$r/docker.sock" http://d/_ping >/dev/null 2>&1; do sleep 0.02; done
  dk "$i" load -q -i "$TAR" >/dev/null
}

swarm() {
  local i pids=() tok
  dk 1 swarm init --advertise-addr "$(ip_of 1)" --listen-addr "$(ip_of 1):2377" \
    --default-addr-pool 10.252.0.0/16 >/dev/null
  tok=$(dk 1 swarm join-token -q worker)
  for i in $(seq 2 $N); do
    dk "$i" swarm join --token "$tok" --advertise-addr "$(ip_of $i)" \
      --listen-addr "$(ip_of $i):2377" "$(ip_of 1):2377" >/dev/null &
    pids+=($!)
  done
  [ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"
  # over TLS, as a tenant would check it
  until [ "$(docker --tlsverify --tlscacert "$ROOT/pki/ca.pem" --tlscert "$ROOT/pki/cert.pem" \
      --tlskey "$ROOT/pki/key.pem" -H "tcp://$(ip_of 1):2376" node ls --format '{{.Status}}' |
      grep -c Ready)" -ge $N ]; do sleep 0.05; done
}

delete() {
  local i h socks=""
  for i in $(seq 1 $N); do
    socks+=" $(awk '$8 ~ "^/run/containerd/s/" {print $8}' "/proc/$(cat "$RUN/n$i/dockerd.pid" 2>/dev/null || echo self)/net/unix" 2>/dev/null || true)"
  done
  for _ in $(seq 1 100); do
    pids=$(cat $(find "/sys/fs/cgroup/pids/$CG" -name cgroup.procs) 2>/dev/null | sort -un)
    [ -z "$pids" ] && break
    kill -KILL $pids 2>/dev/null || true
    sleep 0.02
  done
  awk -v a="$ROOT/" -v b="$RUN/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/self/mounts |
    sort -r | while read -r m; do umount -l "$m"; done
  for i in $(seq 1 $N); do ip netns del "$BAY-n$i"; done
  for f in $socks; do rm -f "$f"; done
  for h in /sys/fs/cgroup/*/; do
    [ -d "$h$CG" ] && find "$h$CG" -depth -type d -exec rmdir {} + 2>/dev/null || true
    rmdir "${h}magnum-byhand" 2>/dev/null || true
  done
  iptables -w -D FORWARD -i "$BR" -o "$BR" -m comment --comment "$BAY" -j ACCEPT
  ip link del "$BR"
  rm -rf "$ROOT" "$RUN"
}

t0=$(now)
pki
ip link add "$BR" type bridge
ip addr add "$NET.1/24" dev "$BR"
ip link set "$BR" up
iptables -w -I FORWARD 1 -i "$BR" -o "$BR" -m comment --comment "$BAY" -j ACCEPT
pids=()
for i in $(seq 1 $N); do node_up "$i" & pids+=($!); done
wait "${pids[@]}"
swarm
t1=$(now)
echo "create_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
if [ "$IDLE" != 0 ]; then
  sleep "$IDLE"
  u=0 r=0
  for i in $(seq 1 $N); do
    u=$((u + $(cat "/sys/fs/cgroup/memory/$CG/n$i/memory.usage_in_bytes")))
    r=$((r + $(awk '/^total_rss /{print $2}' "/sys/fs/cgroup/memory/$CG/n$i/memory.stat")))
  done
  echo "mem_cg_usage_mb=$((u / N / 1048576))"
  echo "mem_cg_rss_mb=$((r / N / 1048576))"
fi
t0=$(now)
delete
t1=$(now)
echo "delete_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}')"
