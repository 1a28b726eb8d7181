"""Services: what every handler receives through `initialize()`, built once by the node.

Frozen and complete: a handler never finds a service missing, and never reaches for a global,
the node or the app.
"""

from __future__ import annotations

from dataclasses import dataclass

from coup.actors.realtime import Realtime
from coup.auth import Authenticator
from coup.bus.base import Bus
from coup.config import Settings
from coup.ratelimit import Limits
from coup.status import NodeStatus
from coup.store.system_settings import SettingsCache


@dataclass(frozen=True)
class Services:
    status: NodeStatus
    system_settings: SettingsCache
    auth: Authenticator
    realtime: Realtime
    limits: Limits
    bus: Bus

    @property
    def settings(self) -> Settings:
        """The node's environment settings (held once, in `status`)."""
        return self.status.settings
