# SPDX-License-Identifier: Apache-2.0
"""Persistence: SQLAlchemy 2 models, queries and Alembic migrations."""
