"""TCP ports for the listeners the tests start (HAProxy, Portico, etcd,
kube-apiserver).

A port from bind(port 0) lies in the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range), the range outgoing connections take
their local port from. Between the moment a port is picked and the moment its
listener binds it (or while a listener is restarted on the same port), an
outgoing connection of the tests, HAProxy or a client may take it, and its
socket (established, or in TIME_WAIT for 60 s) makes the listener's bind fail
with "Address already in use". So the ports come from below that range: from
a random start (per process) upwards, each port handed out once per process,
skipping any that cannot be bound right now on 0.0.0.0 and 127.0.0.1.

    python3 tests/e2e/ports.py N    prints N such ports, space separated
"""

import random
import socket
import sys
import threading

RANGE_FILE = "/proc/sys/net/ipv4/ip_local_port_range"
FLOOR = 20000   # below: ports that services on the host commonly use
MIN_SPAN = 1000


def ephemeral_range():
    try:
        with open(RANGE_FILE) as f:
            low, high = (int(x) for x in f.read().split()[:2])
        return low, high
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def listener_range():
    """(first, last) ports, inclusive, outside the ephemeral range."""
    low, high = ephemeral_range()
    for first, last in ((FLOOR, low - 1), (1024, low - 1), (high + 1, 65535)):
        if last - first + 1 >= MIN_SPAN:
            return first, last
    raise RuntimeError(f"no {MIN_SPAN} ports outside the ephemeral range {low}-{high} "
                       f"({RANGE_FILE}); narrow it to run the tests")


def bindable(port):
    for addr in ("0.0.0.0", "127.0.0.1"):
        with socket.socket() as s:
            try:
                s.bind((addr, port))
            except OSError:
                return False
    return True


class Picker:
    def __init__(self):
        self.first, self.last = listener_range()
        self.span = self.last - self.first + 1
        self.next = random.Random().randrange(self.span)  # offset of the next candidate
        self.tried = 0

    def pick(self):
        while self.tried < self.span:
            port = self.first + self.next
            self.next = (self.next + 1) % self.span
            self.tried += 1
            if bindable(port):
                return port
        raise RuntimeError(f"every port in {self.first}-{self.last} handed out or busy")


_picker = None
_lock = threading.Lock()


def free_port():
    """A port no listener holds now, outside the ephemeral range, never handed
    out before by this process."""
    global _picker
    with _lock:
        if _picker is None:
            _picker = Picker()
        return _picker.pick()


if __name__ == "__main__":
    print(" ".join(str(free_port()) for _ in range(int(sys.argv[1]))))
