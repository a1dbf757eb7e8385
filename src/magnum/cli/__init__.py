# SPDX-License-Identifier: Apache-2.0
"""Console scripts: magnum-api, magnum-conductor, magnum-db-manage, magnum-aio."""

import warnings

# oslo.messaging still imports eventlet (unused here: every server runs on threads), which
# warns on import. Keep that out of operators' terminals.
warnings.filterwarnings("ignore", message="(?s).*Eventlet is deprecated")
