"""Run one measurement in a fresh ``spawn`` child, so its time and peak RSS are its own."""

import multiprocessing as mp


def in_child(target, *args):
    """Call ``target(*args, queue)`` in a child process and return what it put on the queue."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result
