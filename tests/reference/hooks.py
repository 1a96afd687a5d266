"""Teaches schemathesis the two custom string formats of the Operator API's document.

`cron`: a standard 5-field expression (minute hour day-of-month month day-of-week); the
generated ones always fire (day-of-month at most 28, so every month has it).
`iana-time-zone`: a zone name. (What the server refuses is still fuzzed with other types
and with strings where no format is declared.)
"""

import schemathesis
from hypothesis import strategies as st


def field(low, high):
    number = st.integers(low, high).map(str)
    span = st.tuples(st.integers(low, high), st.integers(low, high)).map(
        lambda t: f"{min(t)}-{max(t)}"
    )
    step = st.tuples(st.sampled_from(["*", f"{low}-{high}"]), st.integers(1, high - low or 1)).map(
        lambda t: f"{t[0]}/{t[1]}"
    )
    single = st.one_of(st.just("*"), number, span, step)
    return st.one_of(single, st.lists(st.one_of(number, span), min_size=2, max_size=3).map(",".join))


CRON = st.tuples(field(0, 59), field(0, 23), field(1, 28), field(1, 12), field(0, 6)).map(" ".join)

ZONES = st.sampled_from(
    [
        "UTC",
        "America/New_York",
        "America/Los_Angeles",
        "America/Sao_Paulo",
        "Europe/London",
        "Europe/Paris",
        "Asia/Kolkata",
        "Asia/Tokyo",
        "Australia/Sydney",
        "Pacific/Auckland",
    ]
)

schemathesis.openapi.format("cron", CRON)
schemathesis.openapi.format("iana-time-zone", ZONES)
