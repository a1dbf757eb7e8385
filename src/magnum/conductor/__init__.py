# SPDX-License-Identifier: Apache-2.0
"""The conductor: owns bay operations through leases and drives the drivers."""
