"""Local simulators of the four upstream providers, for tests and the demo.

    sandbox = create_sandbox_app(ManualClock())        # or SystemClock(), SandboxConfig(...)
    async with sandbox.run():                          # or serve sandbox.app: its lifespan runs it
        sandbox.faults["apipod"].poll_429 = 2          # or POST /_sim/faults/apipod {"poll_429": 2}
        sandbox.stats["revidapi"].callbacks            # or GET /_sim/stats
        sandbox.task_states("dreamcore")               # or GET /_sim/tasks/dreamcore
        sandbox.release_hangs()                        # or POST /_sim/release-hangs

Each provider lives under its own prefix (`/apimall`, `/apipod`, `/dreamcore`,
`/revidapi`), so `http://HOST:PORT/apimall` is apimall's base URL. Task state
follows the injected clock; revidapi callbacks are sent by a runner that lives
as long as `run()` (pass `callback_client=` to send them through your own
httpx client or transport). Creates held by `create_hang` keep a connection
open for up to 30 s: release them before stopping a server that waits for
in-flight requests.
"""

from receiver.sandbox._app import SIMULATORS, Sandbox, create_sandbox_app
from receiver.sandbox._faults import CreateErrorFault, Faults
from receiver.sandbox._state import (
    PROVIDER_NAMES,
    CallbackRecord,
    Phase,
    ProviderStats,
    SandboxConfig,
    SimTask,
    default_api_keys,
)

__all__ = [
    "PROVIDER_NAMES",
    "SIMULATORS",
    "CallbackRecord",
    "CreateErrorFault",
    "Faults",
    "Phase",
    "ProviderStats",
    "Sandbox",
    "SandboxConfig",
    "SimTask",
    "create_sandbox_app",
    "default_api_keys",
]
