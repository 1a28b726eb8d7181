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
