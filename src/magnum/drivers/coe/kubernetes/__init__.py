# SPDX-License-Identifier: Apache-2.0
"""The Kubernetes COE: the control plane and nodes (driver.py), and its workloads."""
