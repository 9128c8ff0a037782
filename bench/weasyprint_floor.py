"""The billing run's floor: bare WeasyPrint rendering the run's own invoice HTML, in a
fresh process that imports no Django and nothing of the portal.

    python bench/weasyprint_floor.py BASE_URL

It is started once per repeat and fed while the run goes on: each line on its standard
input is a JSON list of documents' HTML (bench/billing_run.py sends the run's documents
in blocks, exactly as ``billing.delivery.pdf`` rendered them, while the run waits). It
renders each block and answers with one line of JSON: wall and CPU seconds, the garbage
collector's seconds, the number of documents and their PDF bytes. The first block is
rendered untimed (fonts and WeasyPrint's caches load, as in the run's own warm-up) and
answered all the same.

The call is the fastest bare one: WeasyPrint's ``HTML(...).write_pdf()`` with one URL
fetcher for every document, local files and data: URLs only (a new fetcher per document
costs ~10 ms more), and the interpreter's default garbage collection.
"""

from __future__ import annotations

import gc
import json
import sys
import time


def main() -> None:
    base_url = sys.argv[1]
    from weasyprint import HTML, URLFetcher

    fetcher = URLFetcher(allowed_protocols={"file", "data"})
    collecting = [0.0, 0.0]  # seconds in the collector, when the current collection started

    def time_collections(phase: str, _info: dict) -> None:
        if phase == "start":
            collecting[1] = time.perf_counter()
        else:
            collecting[0] += time.perf_counter() - collecting[1]

    gc.callbacks.append(time_collections)
    for line in sys.stdin:
        documents = json.loads(line)
        collecting[0] = 0.0
        size = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for html in documents:
            size += len(HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        answer = {"wall": wall, "cpu": cpu, "gc": collecting[0], "documents": len(documents), "bytes": size}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
