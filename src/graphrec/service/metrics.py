"""Request counters and latency histograms, rendered in the Prometheus text exposition format (version 0.0.4).

Written here rather than taken from a client library: the service needs two metric families and a few gauges.
All updates happen on the event-loop thread (the ASGI middleware), so no lock is needed.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable

# Upper bounds in seconds; +Inf is implicit. Dense below 20 ms, the latency target.
BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in labels.items())


class _Histogram:
    __slots__ = ("count", "counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # per bucket (not cumulative); the last one is +Inf
        self.total = 0.0
        self.count = 0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds
        self.count += 1


class Metrics:
    """graphrec_http_requests_total{method,route,status} and graphrec_http_request_duration_seconds{method,route},
    plus gauges read from callbacks at render time."""

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str], int] = {}
        self._latency: dict[tuple[str, str], _Histogram] = {}
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, str(status))
        self._requests[key] = self._requests.get(key, 0) + 1
        histogram = self._latency.get((method, route))
        if histogram is None:
            histogram = self._latency[(method, route)] = _Histogram()
        histogram.observe(seconds)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._gauges[name] = (help_text, read)

    def request_count(self, method: str, route: str, status: int) -> int:
        return self._requests.get((method, route, str(status)), 0)

    def render(self) -> str:
        lines = [
            "# HELP graphrec_http_requests_total HTTP requests answered, by method, route template and status.",
            "# TYPE graphrec_http_requests_total counter",
        ]
        for (method, route, status), value in sorted(self._requests.items()):
            labels = _labels(method=method, route=route, status=status)
            lines.append(f"graphrec_http_requests_total{{{labels}}} {value}")
        lines += [
            "# HELP graphrec_http_request_duration_seconds Time from request start to response end.",
            "# TYPE graphrec_http_request_duration_seconds histogram",
        ]
        for (method, route), histogram in sorted(self._latency.items()):
            labels = _labels(method=method, route=route)
            cumulative = 0
            for bound, count in zip((*BUCKETS, float("inf")), histogram.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'graphrec_http_request_duration_seconds_bucket{{{labels},le="{le}"}} {cumulative}')
            lines.append(f"graphrec_http_request_duration_seconds_sum{{{labels}}} {histogram.total!r}")
            lines.append(f"graphrec_http_request_duration_seconds_count{{{labels}}} {histogram.count}")
        for name, (help_text, read) in sorted(self._gauges.items()):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {float(read())!r}"]
        return "\n".join(lines) + "\n"
