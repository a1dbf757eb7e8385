# SPDX-License-Identifier: Apache-2.0
"""Magnum: container infrastructure management (bays, baymodels) over a REST API."""

import os

# oslo.messaging imports oslo.service, which imports eventlet, which imports its green DNS
# resolver (all of dnspython, about 9 MB a process) unless told not to. Nothing here runs
# on eventlet: every process (API worker, conductor, aio) uses threads.
os.environ.setdefault("EVENTLET_NO_GREENDNS", "yes")
