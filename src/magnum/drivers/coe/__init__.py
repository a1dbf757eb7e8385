# SPDX-License-Identifier: Apache-2.0
"""COE drivers: what runs on the nodes (Swarm, ...)."""
