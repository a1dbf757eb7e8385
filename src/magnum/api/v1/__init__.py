# SPDX-License-Identifier: Apache-2.0
"""API v1 resources, one module per collection."""
