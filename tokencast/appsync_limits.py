"""AppSync's own limits that both sides of the real-time protocol must respect.

The emulator enforces them (tokencast/local/appsync) and the client SDK plans around them
(tokencast/client): one definition, so the two never disagree. Values are AppSync's
documented service quotas.
"""

from __future__ import annotations

#: Subscriptions one real-time WebSocket connection may hold; the next `start` is refused.
MAX_SUBSCRIPTIONS_PER_CONNECTION = 100
#: Subscription payloads larger than this are not delivered (240 KB).
MAX_SUBSCRIPTION_PAYLOAD_BYTES = 240 * 1024
