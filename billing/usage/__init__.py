"""Bandwidth usage: samples from the network, what they measure, and what is billed for them
(docs/usage.md).

Layers, each importing only those below it (``make lint`` checks them):

``ingest`` | ``charges``   writing samples | the usage lines the billing run adds
``measure``               95th percentile and total transfer over a period, in SQL or Python
``models`` | ``rates``     the records | pure arithmetic on byte counts and 5-minute slots
"""
