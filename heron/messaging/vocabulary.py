"""The message types agents, proxies and distributed hosts exchange: defined once.

Stdlib-only on purpose: agent processes import it before anything heavy.

* agent -> proxy: ``hello`` (a process is up), ``state_request`` (the visible state of
  some owners), ``action`` (this step's action);
* proxy -> agent: ``welcome`` (answer to hello), ``tick`` (act now, for one tagged
  step), ``state_response`` (answer to one state_request), ``shutdown`` (exit).
"""

HELLO = "hello"
WELCOME = "welcome"
TICK = "tick"
SHUTDOWN = "shutdown"
ACTION = "action"
STATE_REQUEST = "state_request"
STATE_RESPONSE = "state_response"

__all__ = ["ACTION", "HELLO", "SHUTDOWN", "STATE_REQUEST", "STATE_RESPONSE", "TICK", "WELCOME"]
