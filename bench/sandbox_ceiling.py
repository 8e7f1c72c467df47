"""How fast the sandbox org takes sObject Collections upserts (it must not be the bottleneck).

A tight client loop: the real simple-salesforce client, over HTTPS, sends
`PATCH composite/sobjects/Contact/ExtId__c` with 200 small records per call to a
SandboxOrg with persistence and the example rules of docs/sandbox-rules.md on. The sandbox runs in
its own process, as it does for the demo and for engineers (`manage.py sandbox_org`),
so client and server do not share one GIL. External ids cycle over a pool, so the run
mixes creates and updates. Prints one JSON object: records/s and requests/s
(target: >= 40,000 records/s, >= 200 requests/s). `--in-process` runs the sandbox in a
thread of the client process instead (client and server then share one core's worth
of Python).

    .venv/bin/python bench/sandbox_ceiling.py [--seconds 10] [--pool 50000] [--clients 1]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from simple_salesforce import Salesforce

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.server import SandboxOrg  # noqa: E402

RULES = {
    "objects": {
        "Contact": {
            "fields": ["LastName", "Email", "Type__c", "AccountId", "OwnerId", "ExtId__c"],
            "required": ["LastName"],
            "max_length": {"LastName": 80},
            "readonly": ["OwnerId"],
            "validation": [
                {
                    "name": "Email_Required_For_Customers",
                    "when": {"field": "Type__c", "equals": "Customer"},
                    "require": "Email",
                    "message": "Customers need an email",
                }
            ],
            "trigger_fail": [
                {
                    "when": {"field": "LastName", "equals": "BOOM"},
                    "message": "ContactTrigger: execution of BeforeInsert",
                }
            ],
            "lookups": {"AccountId": "Account"},
        }
    }
}
BATCH = 200


def serve(data_dir: str, ready: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    """The sandbox process: start, report the URL, serve until told to stop."""
    org = SandboxOrg(Path(data_dir), rules=RULES).start()
    ready.put(org.url)
    stop.wait()
    org.stop()


def client(url: str, ca_path: Path) -> Salesforce:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_path)
    token = session.post(
        f"{url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox",
            "client_secret": "sandbox",
        },
        timeout=10,
    ).json()
    return Salesforce(
        instance_url=url, session_id=token["access_token"], session=session, version="59.0"
    )


def batches(pool: int, client_number: int) -> list[list[dict]]:
    """Batches of 200 small contacts covering one client's pool of external ids once."""
    return [
        [
            {
                "attributes": {"type": "Contact"},
                "ExtId__c": f"c{client_number}-{start + i}",
                "LastName": f"Name {start + i}",
                "Email": f"p{start + i}@example.com",
                "Type__c": "Customer",
            }
            for i in range(BATCH)
        ]
        for start in range(0, pool, BATCH)
    ]


def drive(sf: Salesforce, prepared: list[list[dict]], seconds: float, counts: list[int]) -> None:
    """Send prepared batches until the deadline; count requests and records that succeeded.

    The first pass over the pool creates records, later passes update them.
    """
    deadline = time.perf_counter() + seconds
    sent = 0
    while time.perf_counter() < deadline:
        records = prepared[sent % len(prepared)]
        sent += 1
        results = sf.restful(
            "composite/sobjects/Contact/ExtId__c",
            method="PATCH",
            json={"allOrNone": True, "records": records},
            timeout=30,
        )
        if not all(r["success"] for r in results):
            raise SystemExit(f"a batch failed: {results[0]}")
        counts[0] += 1
        counts[1] += len(results)


def start_process(data_dir: str) -> tuple[str, object]:
    ready: multiprocessing.Queue = multiprocessing.Queue()
    stop = multiprocessing.Event()
    process = multiprocessing.Process(target=serve, args=(data_dir, ready, stop), daemon=True)
    process.start()
    url = ready.get(timeout=30)

    def stop_server() -> None:
        stop.set()
        process.join(timeout=10)

    return url, stop_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pool", type=int, default=50_000, help="distinct external ids")
    parser.add_argument("--clients", type=int, default=1, help="client threads")
    parser.add_argument("--in-process", action="store_true", help="sandbox in a thread here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        if args.in_process:
            org = SandboxOrg(Path(data_dir), rules=RULES).start()
            url, stop_server = org.url, org.stop
        else:
            url, stop_server = start_process(data_dir)
        try:
            clients = [client(url, Path(data_dir) / "ca.pem") for _ in range(args.clients)]
            per_client = [[0, 0] for _ in clients]
            threads = [
                threading.Thread(
                    target=drive, args=(sf, batches(args.pool, i), args.seconds, per_client[i])
                )
                for i, sf in enumerate(clients)
            ]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
        finally:
            stop_server()
    requests_done = sum(c[0] for c in per_client)
    records_done = sum(c[1] for c in per_client)
    print(
        json.dumps(
            {
                "seconds": round(elapsed, 2),
                "clients": args.clients,
                "sandbox": "thread" if args.in_process else "process",
                "batch": BATCH,
                "requests": requests_done,
                "records": records_done,
                "requests_per_s": round(requests_done / elapsed, 1),
                "records_per_s": round(records_done / elapsed),
            }
        )
    )


if __name__ == "__main__":
    main()
