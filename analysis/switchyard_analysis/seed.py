"""The seed's published numbers (design brief, section 12), in one place.

The seed measured on a 16-core Linux machine with `wrk -t4 -d10s`; our machines differ, so
these are compared by shape (the fibers/threads ratio at each connection count, the
yield's cost relative to a kernel thread switch), never drawn on the same absolute axis
as ours.
"""

# Where the numbers come from, and the machine they were measured on.
SOURCE = "design section 12"
CORES = 16

# HTTP "Hello, World!": connections, threads req/s, fibers req/s (one per connection,
# 16 carriers for the fibers).
HTTP = [(1000, 129724, 160947), (2500, 89188, 142105), (5000, 79169, 124745),
        (10000, 55493, 102710), (25000, 62107, 83036)]
HTTP_MACHINE = "16-core Linux, wrk -t4 -d10s"
# Threads saw socket timeouts from this many connections on.
HTTP_THREADS_TIMEOUTS_FROM = 2500
# Level-triggered epoll livelocked at 10k connections: (connections, req/s).
LEVEL_10K = (10000, 3219)

# Two-fiber yield: 2.1 M switches/s, about 476 ns each; a kernel thread switch 150-250 ns.
YIELD_SWITCHES_PER_S = 2.1e6
YIELD_NS = 1e9 / YIELD_SWITCHES_PER_S
THREAD_SWITCH_NS = (150, 250)

# Stack reservations (not measured memory): 8 MiB per thread, 256 KiB per fiber, and the
# address space the seed said they add up to at its largest connection count (its own
# rounding: 8 MB and 256 KB times 25,000 in decimal units).
STACK_RESERVATION_KIB = {"threads": 8 * 1024, "fibers": 256}
RESERVED_GB_AT_MOST = {"threads": 200, "fibers": 6.4}


def most_connections():
    """The seed's largest HTTP connection count."""
    return max(c for c, _, _ in HTTP)


def http_ratio():
    """[(connections, fibers req/s / threads req/s)]: the shape to compare ours against."""
    return [(c, f / t) for c, t, f in HTTP]


def http_ratio_at(connections):
    """The seed's fibers/threads ratio at one of its connection counts, else None."""
    return dict(http_ratio()).get(connections)
