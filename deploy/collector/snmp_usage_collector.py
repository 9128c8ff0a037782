#!/usr/bin/env python3
"""Example usage collector: read interface octet counters over SNMP every 5 minutes and
post the bytes in and out per service to the portal (docs/usage.md).

Standard library only, plus Net-SNMP's ``snmpget`` command (Debian: ``snmp``). Run it
from cron or a systemd timer every 5 minutes, a few seconds after the boundary::

    */5 * * * *  sleep 20; PORTAL_USAGE_TOKEN=uc_... snmp_usage_collector.py /etc/usage-collector.json

The configuration (JSON) names the portal and, for each service, where its traffic is
counted: a switch or router port, seen from the service (the port's *out* is what the
service receives)::

    {
      "portal": "https://portal.example.net",
      "state": "/var/lib/usage-collector/state.json",
      "interfaces": [
        {"service": "1042", "host": "sw1.example.net", "community": "public", "if_index": 17,
         "counter_bits": 64, "swap": true}
      ]
    }

``counter_bits`` is 64 for ifHCInOctets/ifHCOutOctets (use them wherever the device has
them), 32 for ifInOctets/ifOutOctets (these wrap every 34 seconds at 1 Gbit/s: poll 32-bit
counters only on slow ports). A counter that went down wrapped once (the difference is
taken modulo 2^bits); one that went down by more than the line rate allows was reset (a
reboot), and that interval is skipped rather than billed. Samples not yet accepted by the
portal stay in the state file and are sent again next time: the portal keeps one sample
per service and interval, so sending twice is harmless.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

SLOT = 300
SNMPGET = os.environ.get("SNMPGET", "/usr/bin/snmpget")  # Net-SNMP's command
OIDS = {
    64: ("1.3.6.1.2.1.31.1.1.1.6", "1.3.6.1.2.1.31.1.1.1.10"),  # ifHCInOctets, ifHCOutOctets
    32: ("1.3.6.1.2.1.2.2.1.10", "1.3.6.1.2.1.2.2.1.16"),  # ifInOctets, ifOutOctets
}


@dataclass(frozen=True)
class Reading:
    """Counters read at ``at`` (UTC)."""

    at: dt.datetime
    octets_in: int
    octets_out: int


def counter_delta(before: int, after: int, bits: int) -> int:
    """Octets counted between two readings of a ``bits``-bit counter that may have wrapped once."""
    return (after - before) % (1 << bits)


def slot_start(moment: dt.datetime) -> dt.datetime:
    """The 5-minute boundary at or before ``moment``."""
    seconds = int(moment.timestamp())
    return dt.datetime.fromtimestamp(seconds - seconds % SLOT, tz=dt.UTC)


def samples(
    readings: Iterable[Reading], *, bits: int, max_bytes_per_second: float = 100e9 / 8
) -> Iterator[tuple[dt.datetime, int, int]]:
    """(interval start, bytes in, bytes out) from consecutive readings, one per 5-minute
    interval: each pair of readings taken in consecutive intervals gives the interval of the
    first. Pairs further apart (a missed poll) give nothing: the portal counts a missing
    sample as zero, which never bills traffic we did not see. A difference larger than the
    line rate could carry is a counter reset, not traffic: skipped."""
    previous: Reading | None = None
    for reading in readings:
        if previous is not None:
            start = slot_start(previous.at)
            if slot_start(reading.at) - start == dt.timedelta(seconds=SLOT):
                elapsed = max((reading.at - previous.at).total_seconds(), 1.0)
                got_in = counter_delta(previous.octets_in, reading.octets_in, bits)
                got_out = counter_delta(previous.octets_out, reading.octets_out, bits)
                if max(got_in, got_out) <= max_bytes_per_second * elapsed:
                    # Scaled to the interval's 300 s when the polls were not exactly 300 s apart.
                    yield start, round(got_in * SLOT / elapsed), round(got_out * SLOT / elapsed)
        previous = reading


def as_csv(service: str, rows: Iterable[tuple[dt.datetime, int, int]]) -> str:
    return "".join(
        f"{service},{start:%Y-%m-%dT%H:%M:%SZ},{bytes_in},{bytes_out}\n" for start, bytes_in, bytes_out in rows
    )


def snmp_read(host: str, community: str, if_index: int, bits: int) -> tuple[int, int]:
    oid_in, oid_out = OIDS[bits]
    output = subprocess.run(  # noqa: S603 (a fixed command with configured arguments)
        [SNMPGET, "-v2c", "-c", community, "-Oqv", host, f"{oid_in}.{if_index}", f"{oid_out}.{if_index}"],
        check=True,
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout.split()
    return int(output[0]), int(output[1])


def post(portal: str, token: str, body: str) -> dict:
    request = urllib.request.Request(  # noqa: S310 (the configured portal's https URL)
        f"{portal.rstrip('/')}/api/usage/samples",
        data=body.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            return json.load(response)
    except urllib.error.HTTPError as exc:
        if exc.code == 422:  # some rows rejected: the rest were stored
            return json.load(exc)
        raise


def run(config_path: str) -> int:
    with open(config_path) as file:
        config = json.load(file)
    token = os.environ["PORTAL_USAGE_TOKEN"]
    state_path = config["state"]
    try:
        with open(state_path) as file:
            state = json.load(file)
    except FileNotFoundError:
        state = {"last": {}, "unsent": ""}
    now = dt.datetime.now(dt.UTC)
    body = state.get("unsent", "")
    for interface in config["interfaces"]:
        key = f"{interface['host']}/{interface['if_index']}"
        bits = interface.get("counter_bits", 64)
        octets_in, octets_out = snmp_read(interface["host"], interface["community"], interface["if_index"], bits)
        if interface.get("swap"):  # a switch port: its out is the service's in
            octets_in, octets_out = octets_out, octets_in
        reading = Reading(now, octets_in, octets_out)
        last = state["last"].get(key)
        if last:
            before = Reading(dt.datetime.fromisoformat(last["at"]), last["in"], last["out"])
            body += as_csv(interface["service"], samples([before, reading], bits=bits))
        state["last"][key] = {"at": now.isoformat(), "in": octets_in, "out": octets_out}
    status = 0
    if body:
        try:
            result = post(config["portal"], token, body)
            for rejected in result.get("rejected", []):
                print(f"rejected line {rejected['line']}: {rejected['reason']}", file=sys.stderr)
                status = 1
            body = ""
        except (urllib.error.URLError, OSError) as exc:
            print(f"portal unreachable, samples kept for next time: {exc}", file=sys.stderr)
            status = 2
    state["unsent"] = body
    temporary = f"{state_path}.tmp"
    with open(temporary, "w") as file:
        json.dump(state, file)
    os.replace(temporary, state_path)
    return status


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
