# SPDX-License-Identifier: Apache-2.0
"""Infrastructure drivers: where bay nodes come from."""
