"""Helpers the benchmarks share: ports, one HTTP status through HAProxy, percentiles."""

import socket
import urllib.error
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(port, host, timeout=2.0):
    """Status of GET / with Host <host> on 127.0.0.1:<port>; 0 without an answer."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def pct(values, p):
    """The p-th percentile (nearest rank) of <values>."""
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(p / 100.0 * (len(values) - 1)))))]
