# SPDX-License-Identifier: Apache-2.0
"""magnum-api: the WSGI application (Falcon), its middleware, policy and the v1 resources."""
