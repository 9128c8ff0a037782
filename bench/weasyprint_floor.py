"""The billing run's floor: bare WeasyPrint rendering the run's own invoice HTML, in a
fresh process that imports no Django and nothing of the portal.

    python bench/weasyprint_floor.py FOLDER BASE_URL

FOLDER holds one ``*.html`` file per invoice (bench/billing_run.py writes them, exactly
as ``billing.delivery.pdf`` renders them). All are read first; one is rendered untimed
(fonts and WeasyPrint's caches load, as in the run's own warm-up), then every document is
rendered and timed. The call is the fastest bare one: WeasyPrint's ``HTML(...).write_pdf()``
with one URL fetcher for every document, local files and data: URLs only (a new fetcher
per document costs ~10 ms more). Prints one line of JSON: wall and CPU seconds, the
number of documents and their PDF bytes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    folder, base_url = Path(sys.argv[1]), sys.argv[2]
    from weasyprint import HTML, URLFetcher

    documents = [path.read_text() for path in sorted(folder.glob("*.html"))]
    fetcher = URLFetcher(allowed_protocols={"file", "data"})
    HTML(string=documents[0], base_url=base_url, url_fetcher=fetcher).write_pdf()
    size = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for html in documents:
        size += len(HTML(string=html, base_url=base_url, url_fetcher=fetcher).write_pdf())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"wall": wall, "cpu": cpu, "documents": len(documents), "bytes": size}))


if __name__ == "__main__":
    main()
