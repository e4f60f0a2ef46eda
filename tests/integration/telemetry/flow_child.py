"""telemetry_ingest in long-running mode in its own process, for the graceful-stop test.

    python flow_child.py '<flow parameters as JSON>'

Settings and PREFECT_API_URL come from the environment. Prints the final state and summary as JSON.
"""

import json
import sys

from flows.telemetry_ingest import telemetry_ingest

state = telemetry_ingest(mode="long-running", return_state=True, **json.loads(sys.argv[1]))
print(json.dumps({"state": state.type.value, "summary": state.result(raise_on_failure=False)}), flush=True)
