# SPDX-License-Identifier: Apache-2.0
"""Conductor handlers, one module per resource."""
