# SPDX-License-Identifier: Apache-2.0
"""Domain rules: states and transitions, project scoping, lookups by uuid or name."""
