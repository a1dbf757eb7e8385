# SPDX-License-Identifier: Apache-2.0
"""Magnum: container infrastructure management (bays, baymodels) over a REST API."""
