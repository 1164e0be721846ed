"""A fork server for the crash test: imports everything and builds the corpus once, then for every database path it
reads on stdin forks a child that imports the corpus into that file, prints the child's pid, waits for it and prints
how it ended ("exit 0", or "signal 9" when the test killed it).

    python -m tests.reliability.crashchild N_CLAIMS
"""

from __future__ import annotations

import asyncio
import os
import sys


def main() -> int:
    n = int(sys.argv[1])
    from storage.corpus import Corpus
    from tests.reliability.helpers import OWNER, big_file

    file = big_file(n)

    async def apply(path: str) -> None:
        corpus = await Corpus.open(path)
        try:
            await corpus.apply(file, OWNER, action="import crash-test")
        finally:
            await corpus.close()

    print("ready", flush=True)
    for line in sys.stdin:
        path = line.strip()
        if not path:
            continue
        pid = os.fork()
        if pid == 0:  # the child: import, then leave without running the parent's clean-up
            code = 0
            try:
                asyncio.run(apply(path))
            except BaseException as exc:  # noqa: BLE001
                print(f"child error: {exc!r}", file=sys.stderr, flush=True)
                code = 1
            os._exit(code)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            print(f"signal {os.WTERMSIG(status)}", flush=True)
        else:
            print(f"exit {os.WEXITSTATUS(status)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
