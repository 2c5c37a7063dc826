#!/usr/bin/python3
"""The Python twins of bench/micro/scheduler/bench_sync.cpp (one worker: asyncio has one).

Each benchmark does the same batch of N operations as its C++ namesake on one event loop
(asyncio's default loop, or uvloop's with --loop uvloop) and prints one line:
`name items_per_second`, the median over --repetitions timed batches (after one untimed
warm-up batch).

    /usr/bin/python3 micro_asyncio_sync.py [--loop asyncio|uvloop] [--n 100000]
                                           [--repetitions 5] [--filter SUBSTRING]
"""

import argparse
import asyncio
import statistics
import sys
import time

WIDE = 10_000


async def queue_pingpong(n):
    pings, pongs = asyncio.Queue(1), asyncio.Queue(1)

    async def ponger():
        while True:
            v = await pings.get()
            if v < 0:
                return
            await pongs.put(v + 1)

    other = asyncio.create_task(ponger())
    x = 0
    for _ in range(n):
        await pings.put(x)
        x = await pongs.get()
    await pings.put(-1)
    await other
    return x


async def queue_mpmc(n):
    q = asyncio.Queue(1024)

    async def produce(k):
        for _ in range(k):
            await q.put(1)

    async def consume(k):
        s = 0
        for _ in range(k):
            s += await q.get()
        return s

    tasks = [asyncio.create_task(produce(n // 2)) for _ in range(2)]
    consumers = [asyncio.create_task(consume(n // 2)) for _ in range(2)]
    await asyncio.gather(*tasks)
    return sum(await asyncio.gather(*consumers))


async def lock_uncontended(n):
    lock = asyncio.Lock()
    held = 0
    for _ in range(n):
        await lock.acquire()
        held += 1
        lock.release()
    return held


async def lock_contended(n):
    lock = asyncio.Lock()
    counter = 0

    async def contender(k):
        nonlocal counter
        for _ in range(k):
            async with lock:
                counter += 1
                await asyncio.sleep(0)

    await asyncio.gather(*(contender(n // 4) for _ in range(4)))
    return counter


async def event_set_wait(n):
    loop = asyncio.get_running_loop()
    seen = 0
    for _ in range(n):
        ev = asyncio.Event()
        loop.call_soon(ev.set)
        if await ev.wait():
            seen += 1
    return seen


async def one():
    await asyncio.sleep(0)
    return 1


async def gather_10k(n):
    total = 0
    for _ in range(n // WIDE):
        total += sum(await asyncio.gather(*(one() for _ in range(WIDE))))
    return total


async def task_group_10k(n):
    total = 0
    for _ in range(n // WIDE):
        async with asyncio.TaskGroup() as tg:
            children = [tg.create_task(one()) for _ in range(WIDE)]
        total += sum(c.result() for c in children)
    return total


BENCHMARKS = [queue_pingpong, queue_mpmc, lock_uncontended, lock_contended, event_set_wait,
              gather_10k, task_group_10k]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--filter", default="")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop  # python3-uvloop
        new_loop = uvloop.new_event_loop
    else:
        new_loop = asyncio.new_event_loop
    for bench in BENCHMARKS:
        if args.filter not in bench.__name__:
            continue
        loop = new_loop()
        try:
            got = loop.run_until_complete(bench(args.n))  # warm-up
            if got != args.n:
                sys.exit(f"{bench.__name__}: a batch did {got} items, not {args.n}")
            rates = []
            for _ in range(args.repetitions):
                t0 = time.perf_counter()
                loop.run_until_complete(bench(args.n))
                rates.append(args.n / (time.perf_counter() - t0))
        finally:
            loop.close()
        print(f"{bench.__name__} {statistics.median(rates):.0f}", flush=True)


if __name__ == "__main__":
    main()
