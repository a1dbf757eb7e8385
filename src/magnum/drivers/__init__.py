# SPDX-License-Identifier: Apache-2.0
"""Driver contracts (infrastructure x COE) and their discovery through entry points."""
