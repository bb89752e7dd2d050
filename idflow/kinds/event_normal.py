"""The canonical form of event handlers: what plans compare, and what idflow sends.

A local file and the server's answer (``GET /event``) both go through ``normalise_event_handler``, so a
handler the server stored and returned compares equal to the one it was made from. What conductor-oss
3.32.3 does with a handler it is given (``POST``/``PUT /event``, then ``GET /event``), found against the
real server (``tests/integration/test_event_schedule_remote.py`` checks it):

* it keeps nothing of its own: no ``createTime``, no owner, no audit field at all;
* it writes back ``active: false`` and, per action, ``expandInlineJSON: false`` when they are unset, an
  empty ``input`` for ``start_workflow`` and an empty ``output`` for ``complete_task``/``fail_task``;
* it drops every field it does not model, ``description`` included (the original idflow's
  ``event_handlers.json`` carry one): the readers report each at its line, the normal form leaves it out;
* it turns a number in ``condition`` into a string (``5`` comes back as ``"5"``): the validator refuses
  anything but a string, so the two sides never differ by type;
* an empty ``condition`` and a missing one behave alike (the condition is skipped) and compare equal here.
"""

from __future__ import annotations

import copy
from typing import Any

from idflow.kinds.normal import Ignored, normalise_struct
from idflow.kinds.server_model import EVENT_HANDLER


def normalise_event_handler(handler: Any, ignored: list[Ignored] | None = None) -> Any:
    """The canonical form of one event handler (server JSON shape); ``ignored`` (when given) gets every
    field the server would drop, as ``(path, structure)``. Non-mappings are returned as they are."""
    if not isinstance(handler, dict):
        return copy.deepcopy(handler)
    return normalise_struct(EVENT_HANDLER, handler, ignored=ignored)
