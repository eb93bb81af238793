"""How many emails go out twice when SendGrid fails, with and without the ledger.

    python -m bench.email_duplicates [--messages 200] [--rates 0.2 0.4] [--seed 7]

Each message is sent by the real ``SendGridBackend`` (the official client)
against the SendGrid double, retried the way the workflow's retry policy
retries the email activity. A share of SendGrid's answers (the fault rate) is
a fault, in four equal parts:

- ``500``: refused; nothing went out;
- ``dropped``: the connection is cut before SendGrid accepted anything;
- ``lost``: SendGrid accepts, then the connection is cut before the answer;
- ``slow``: SendGrid accepts and answers, but after the client's timeout.

Halfway, the worker is killed: its requests still reach SendGrid, but their
answers and the activity results are lost, its memory is gone, and a fresh
worker retries every unfinished message. The same run is made twice:
``memory`` (``ORDERS_EMAIL_LEDGER=off``, the worker remembers accepted keys in
its own memory, the behaviour before the ledger) and ``ledger`` (SQLite).

The duplicate rate is the share of messages SendGrid accepted more than once.
Times are scaled down (a 0.3 s client timeout) so that a run takes seconds.
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from temporalio.exceptions import ApplicationError

from activities.email_ledger import SentLedger
from activities.outgoing import OutgoingEmail
from activities.sendgrid_backend import SendGridBackend
from bench.sendgrid_double import TEST_API_KEY, Reply, SendGridDouble

CLIENT_TIMEOUT: Final = 0.3
"""The attempt's wait for an answer (``SENDGRID_TIMEOUT``), scaled down."""
ANSWER_WAIT: Final = 3.0
"""How long the request itself waits for an answer in the background (``ANSWER_WAIT``), scaled down."""
SLOW_ANSWER: Final = 0.8
"""A slow answer: past the client timeout, well within the answer wait."""
REPORT_DELAY: Final = 0.02
"""Between the backend's return and the activity result reaching Temporal."""
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 0.4
MAX_ATTEMPTS: Final = 40
CONCURRENCY: Final = 8

FAULTS: Final = {
    "500": Reply.server_error(500),
    "dropped": Reply.dropped(),
    "lost": Reply.lost(),
    "slow": Reply.slow(SLOW_ANSWER),
}


@dataclass
class Result:
    mode: str
    rate: float
    messages: int
    delivered: int
    duplicated: int
    extra_copies: int
    faults: Counter[str]
    seconds: float
    requests: int = 0

    @property
    def duplicate_rate(self) -> float:
        return self.duplicated / self.messages

    def line(self) -> str:
        faults = ", ".join(f"{name} {count}" for name, count in sorted(self.faults.items()))
        return (
            f"{self.mode:6} faults {self.rate:.0%}: {self.messages} messages, {self.delivered} delivered, "
            f"{self.duplicated} sent twice or more ({self.duplicate_rate:.1%}), {self.extra_copies} extra copies; "
            f"{self.requests} requests, faults: {faults}; {self.seconds:.1f} s"
        )


def _message(n: int) -> OutgoingEmail:
    return OutgoingEmail(
        order_id=f"bench-{n}",
        kind="contact_ack",
        message_key=f"bench-{n}:email:1:contact_ack",
        to_email=f"customer{n}@example.com",
        to_name=None,
        from_email="orders@example.com",
        from_name="Bench",
        reply_to=None,
        subject="Thank you",
        text="Thank you for getting in touch.",
        html="<p>Thank you for getting in touch.</p>",
    )


class Workers:
    """The worker of the moment; ``kill`` replaces it with a fresh one."""

    def __init__(self, host: str, ledger_path: Path | None) -> None:
        self._host = host
        self._ledger_path = ledger_path
        self._lock = threading.Lock()
        self.generation = 0
        self.current = self._start()

    def _start(self) -> SendGridBackend:
        ledger = SentLedger(self._ledger_path) if self._ledger_path else None
        return SendGridBackend(
            TEST_API_KEY, host=self._host, timeout=CLIENT_TIMEOUT, ledger=ledger, answer_wait=ANSWER_WAIT
        )

    def kill(self) -> None:
        with self._lock:
            if self.current.ledger is not None:
                self.current.ledger.close()  # a dead process records nothing more
            self.generation += 1
            self.current = self._start()

    def get(self) -> tuple[int, SendGridBackend]:
        with self._lock:
            return self.generation, self.current


def _deliver(message: OutgoingEmail, workers: Workers) -> bool:
    """One email activity with its retry policy: True once a worker reports success."""
    backoff = FIRST_BACKOFF
    for _ in range(MAX_ATTEMPTS):
        generation, backend = workers.get()
        try:
            backend.send(message)
        except ApplicationError as error:
            if error.non_retryable:
                return False
        else:
            time.sleep(REPORT_DELAY)
            if workers.generation == generation:
                return True
            # The worker died before its result reached Temporal: the activity is retried.
        time.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF)
    return False


def run(mode: str, rate: float, messages: int, seed: int) -> Result:
    rng = random.Random(seed)
    faults: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as folder, SendGridDouble(api_key=TEST_API_KEY) as api:
        names = [rng.choice(list(FAULTS)) if rng.random() < rate else "" for _ in range(messages * 6)]
        api.script(*(FAULTS[name] if name else Reply.accepted() for name in names))
        workers = Workers(api.url, Path(folder) / "sent.sqlite" if mode == "ledger" else None)
        started = time.monotonic()
        begun = 0
        begun_lock = threading.Lock()

        def one(n: int) -> bool:
            nonlocal begun
            with begun_lock:
                begun += 1
                if begun == messages // 2:
                    workers.kill()
            return _deliver(_message(n), workers)

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            delivered = sum(pool.map(one, range(messages)))
        seconds = time.monotonic() - started
        api.wait_for(lambda d: all(r.status is not None for r in d.requests), timeout=ANSWER_WAIT + 5)
        requests = api.requests
        accepted = Counter(r.message_key for r in requests if r.accepted)
        faults.update(name for name in names[: len(requests)] if name)  # the replies the requests got
    return Result(
        mode=mode,
        rate=rate,
        messages=messages,
        delivered=delivered,
        duplicated=sum(1 for count in accepted.values() if count > 1),
        extra_copies=sum(count - 1 for count in accepted.values() if count > 1),
        faults=faults,
        seconds=seconds,
        requests=len(requests),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rates", type=float, nargs="+", default=[0.2, 0.4])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--mode", choices=["memory", "ledger", "both"], default="both")
    args = parser.parse_args(argv)
    logging.getLogger("orders.email.sendgrid").setLevel(logging.ERROR)  # one line per resend is noise here
    modes = ["memory", "ledger"] if args.mode == "both" else [args.mode]
    for rate in args.rates:
        for mode in modes:
            print(run(mode, rate, args.messages, args.seed).line(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
