# SPDX-License-Identifier: Apache-2.0
"""The local infrastructure: bay nodes as network namespaces on this host, each with
its own cgroup, UTS name and dockerd (see driver.py for the big picture)."""
