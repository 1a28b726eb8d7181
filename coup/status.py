"""NodeStatus: the few facts about this node that change while it runs.

The environment settings live here and nowhere else: the handlers (through the services), the
registry and its actors all read `status.settings`, so replacing it (a test that narrows a
limit) changes every reader at once. Rooms copy the settings when they start.
"""

from __future__ import annotations

from coup.config import Settings


class NodeStatus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Set when the node begins to stop (PROTOCOL §10): /ready answers 503, /ws refuses.
        self.draining = False
