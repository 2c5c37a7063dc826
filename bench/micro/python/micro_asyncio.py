#!/usr/bin/python3
"""The Python twins of bench/micro/scheduler/bench_event_loop.cpp.

Each benchmark does the same batch of N operations as its C++ namesake, on one event loop
made once per benchmark (asyncio's default loop, or uvloop's with --loop uvloop), and prints
one line: `name items_per_second`, the median over --repetitions timed batches (after one
untimed warm-up batch).

    /usr/bin/python3 micro_asyncio.py [--loop asyncio|uvloop] [--n 100000] [--repetitions 5]
                                      [--filter SUBSTRING]
"""

import argparse
import asyncio
import gc
import statistics
import sys
import time

YIELDERS = 1000  # tasks in yield_1000_tasks


def bench_call_soon(loop, n):
    ran = 0

    def cb():
        nonlocal ran
        ran += 1

    def last():
        nonlocal ran
        ran += 1
        loop.stop()

    for _ in range(n - 1):
        loop.call_soon(cb)
    loop.call_soon(last)
    loop.run_forever()
    return ran


def bench_call_soon_running(loop, n):
    ran = 0

    def cb():
        nonlocal ran
        ran += 1

    def last():
        nonlocal ran
        ran += 1
        loop.stop()

    def first():
        for _ in range(n - 1):
            loop.call_soon(cb)
        loop.call_soon(last)

    loop.call_soon(first)
    loop.run_forever()
    return ran


def bench_timer_cancel(loop, n):
    ran = 0

    def cb():
        nonlocal ran
        ran += 1

    handles = [loop.call_later(3600.0, cb) for _ in range(n)]
    for h in handles:
        h.cancel()
    handles.clear()
    # One loop turn, in which the loop drops the cancelled entries from its heap.
    loop.call_soon(loop.stop)
    loop.run_forever()
    return n if ran == 0 else -1


def bench_timer_fire(loop, n):
    fired = 0

    def cb():
        nonlocal fired
        fired += 1
        if fired == n:
            loop.stop()

    for _ in range(n):
        loop.call_later(0, cb)
    loop.run_forever()
    return fired


async def await_futures(loop, n):
    total = 0
    for _ in range(n):
        fut = loop.create_future()
        loop.call_soon(fut.set_result, 1)
        total += await fut
    return total


def bench_future_set_await(loop, n):
    return loop.run_until_complete(await_futures(loop, n))


class Rally:
    """The two futures the ping-pong tasks hand each other (see the C++ twin)."""

    __slots__ = ("to_pinger", "to_ponger", "round_trips")

    def __init__(self):
        self.to_pinger = None
        self.to_ponger = None
        self.round_trips = 0


async def pinger(loop, r, n):
    for _ in range(n):
        r.to_pinger = reply = loop.create_future()
        r.to_ponger.set_result(None)
        await reply
        r.round_trips += 1


async def ponger(loop, r, n):
    for _ in range(n):
        await r.to_ponger
        r.to_ponger = loop.create_future()
        r.to_pinger.set_result(None)


async def ping_pong(loop, n):
    r = Rally()
    r.to_ponger = loop.create_future()
    a = loop.create_task(pinger(loop, r, n))
    b = loop.create_task(ponger(loop, r, n))
    await a
    await b
    return r.round_trips


def bench_future_pingpong(loop, n):
    return loop.run_until_complete(ping_pong(loop, n))


async def empty():
    return None


async def spawn_all(loop, n):
    tasks = [loop.create_task(empty()) for _ in range(n)]
    joined = 0
    for t in tasks:
        await t
        joined += 1
    return joined


def bench_spawn_await(loop, n):
    return loop.run_until_complete(spawn_all(loop, n))


async def yield_times(n):
    done = 0
    for _ in range(n):
        await asyncio.sleep(0)
        done += 1
    return done


def bench_yield_one_task(loop, n):
    return loop.run_until_complete(yield_times(n))


async def yield_in_many(loop, tasks, each):
    all_tasks = [loop.create_task(yield_times(each)) for _ in range(tasks)]
    total = 0
    for t in all_tasks:
        total += await t
    return total


def bench_yield_1000_tasks(loop, n):
    return loop.run_until_complete(yield_in_many(loop, YIELDERS, n // YIELDERS))


# name -> (function, items a batch of n processes)
BENCHMARKS = {
    "call_soon": (bench_call_soon, lambda n: n),
    "call_soon_running": (bench_call_soon_running, lambda n: n),
    "timer_cancel": (bench_timer_cancel, lambda n: n),
    "timer_fire": (bench_timer_fire, lambda n: n),
    "future_set_await": (bench_future_set_await, lambda n: n),
    "future_pingpong": (bench_future_pingpong, lambda n: n),
    "spawn_await": (bench_spawn_await, lambda n: n),
    "yield_one_task": (bench_yield_one_task, lambda n: n),
    "yield_1000_tasks": (bench_yield_1000_tasks, lambda n: (n // YIELDERS) * YIELDERS),
}


def new_loop(kind):
    if kind == "uvloop":
        import uvloop  # Debian: python3-uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    p.add_argument("--n", type=int, default=100_000, help="items per batch (as the C++ side)")
    p.add_argument("--repetitions", type=int, default=5, help="timed batches; the median is printed")
    p.add_argument("--filter", default="", help="run only benchmarks whose name contains this")
    args = p.parse_args()

    for name, (fn, items_of) in BENCHMARKS.items():
        if args.filter not in name:
            continue
        loop = new_loop(args.loop)
        asyncio.set_event_loop(loop)
        expected = items_of(args.n)
        try:
            rates = []
            for rep in range(args.repetitions + 1):
                # Collect garbage left by the previous batch outside the timed region.
                gc.collect()
                start = time.perf_counter()
                got = fn(loop, args.n)
                elapsed = time.perf_counter() - start
                if got != expected:
                    sys.exit(f"{name}: a batch did {got} items, expected {expected}")
                if rep > 0:  # the first batch warms up caches and allocators
                    rates.append(expected / elapsed)
        finally:
            asyncio.set_event_loop(None)
            loop.close()
        print(f"{name} {statistics.median(rates):.0f}", flush=True)


if __name__ == "__main__":
    main()
