"""Every Prometheus metric, defined once (ARCHITECTURE §8).

Names start with `coup_` and use base units; labels never carry user or study ids, so the
number of series stays bounded whatever the traffic.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "coup_http_requests_total",
    "HTTP requests by route pattern, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "coup_http_request_duration_seconds",
    "HTTP request latency by route pattern.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_5XX = Counter(
    "coup_http_5xx_total",
    "HTTP responses with a 5xx status, by route pattern and error code; INTERNAL means an "
    "unexpected exception, logged with its traceback.",
    ["route", "code"],
)
DB_CALL_SECONDS = Histogram(
    "coup_db_call_duration_seconds",
    "Time spent in one database call on a worker thread.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
DB_ERRORS = Counter("coup_db_errors_total", "Database calls that failed with a driver error.")
DB_PENDING_CALLS = Gauge(
    "coup_db_pending_calls", "Database calls queued or running on the worker pool."
)
LOGIN_FAILURES = Counter("coup_login_failures_total", "Failed password logins.")
SESSIONS_CREATED = Counter("coup_sessions_created_total", "Login sessions created.")

# --- realtime -------------------------------------------------------------------------------
MAILBOX_OVERFLOWS = Counter(
    "coup_mailbox_overflows_total", "Messages refused because an actor mailbox was full.",
    ["kind"],
)
MAILBOX_DEPTH = Gauge(
    "coup_mailbox_depth_max", "Deepest mailbox of each actor kind at the last scrape.", ["kind"]
)
WS_CONNECTIONS = Gauge("coup_ws_connections", "Open WebSocket connections on this node.")
WS_FRAMES_IN = Counter("coup_ws_frames_in_total", "Client frames received, by event.", ["event"])
WS_FRAMES_OUT = Counter(
    "coup_ws_frames_out_total", "Frames queued to clients, by event.", ["event"]
)
WS_FANOUT_DELIVERIES = Counter(
    "coup_ws_fanout_deliveries_total", "Room event frames written to sockets."
)
WS_OUTBOUND_DROPS = Counter(
    "coup_ws_outbound_drops_total", "Frames shed from slow consumers, by event.", ["event"]
)
WS_INTERNAL_REPLIES = Counter(
    "coup_ws_internal_replies_total",
    "Frames answered INTERNAL (an unexpected exception, logged with its traceback).",
)
WS_CLOSES = Counter("coup_ws_closes_total", "Server-initiated closes, by close code.", ["code"])
ACTIVE_ROOMS = Gauge("coup_active_rooms", "Room actors active on this node.")
CHAT_BATCH_SIZE = Histogram(
    "coup_chat_batch_size", "Messages written per group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
EVENT_PUBLISH_SECONDS = Histogram(
    "coup_event_publish_latency_seconds",
    "From a durable event's commit (on any node) to its frame being written to this node's "
    "sockets.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
GAP_REPAIRS = Counter("coup_gap_repairs_total", "Seq gaps filled from the database.")
CHAT_ACK_SECONDS = Histogram(
    "coup_chat_ack_latency_seconds",
    "From a chat message reaching its room to its acknowledgement (after commit).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
PRESENCE_CHANGES = Counter(
    "coup_presence_changes_total", "user:online / user:offline pushes, by kind.", ["kind"]
)

# --- bus --------------------------------------------------------------------------------------
BUS_HEALTHY = Gauge("coup_bus_healthy", "1 while the bus can publish and read, else 0.")
BUS_READER_LAG = Gauge(
    "coup_bus_reader_lag_seconds", "Seconds since the bus reader last completed a read."
)
BUS_MESSAGES_IN = Counter("coup_bus_messages_in_total", "Bus messages read, by type.", ["type"])
BUS_MESSAGES_OUT = Counter(
    "coup_bus_messages_out_total", "Bus messages published, by type.", ["type"]
)
BUS_DROPPED = Counter(
    "coup_bus_dropped_total", "Publishes dropped while Redis was unreachable (repaired later)."
)
BUS_PUBLISH_SECONDS = Histogram(
    "coup_bus_publish_duration_seconds", "Time to send one pipelined batch of publishes.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
BUS_DELIVERY_SECONDS = Histogram(
    "coup_bus_delivery_latency_seconds", "From publish on one node to read on another.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
BUS_DEAD_NODES = Counter("coup_bus_dead_nodes_total", "Dead nodes cleaned up by this node.")
