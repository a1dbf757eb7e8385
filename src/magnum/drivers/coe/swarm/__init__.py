# SPDX-License-Identifier: Apache-2.0
"""Docker Swarm mode as a COE, driven over each node's TLS API with the docker SDK."""
