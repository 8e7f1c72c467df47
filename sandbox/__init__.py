"""The sandbox org: a local stand-in for a Salesforce org (docs/sandbox-rules.md).

The real simple-salesforce client talks to it over real HTTPS on 127.0.0.1 (its own CA,
written to `D/ca.pem`). Start it from Python (`server.SandboxOrg(D).start()`) or as
`manage.py sandbox_org --port P --data-dir D [--rules FILE] [--latency-ms N]`.

Salesforce resources (any `vNN.N`), answered with Salesforce's status codes and shapes:
  POST  /services/oauth2/token                        client_credentials, password, JWT bearer
  PATCH /services/data/vXX.X/composite/sobjects/S/F   sObject Collections upsert (<= 200)
  POST  /services/data/vXX.X/composite                up to 25 data subrequests (<= 5 of them
        Collections or queries) in one API call, in order, allOrNone (see composite.py)
  PATCH /services/data/vXX.X/sobjects/S/F/v           single upsert (201 created / 200 updated)
  GET   /services/data/vXX.X/sobjects/S/F/v, .../sobjects/S/Id   a record
  GET   /services/data/vXX.X/query?q=SOQL             SELECT .. FROM S [WHERE] [ORDER BY] [LIMIT],
        in pages of 2,000 (`nextRecordsUrl` -> GET .../query/<locator>-<n>; see paging.py)
  GET   /services/data/vXX.X/limits                   DailyApiRequests {Max, Remaining}
  GET   /services/data/vXX.X/sobjects[/S/describe]    describe
Bodies may be chunked and gzip/deflate-compressed; answers are gzipped when asked
(bodies.py). Every data response carries `Sforce-Limit-Info: api-usage=N/M`; a bad or expired token
answers 401 `[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]`.

The sandbox's own endpoints (for tests, the demo and engineers), each needing header
`X-Sandbox-Token: <contents of D/control-token>` (a new token at every start; missing →
401, wrong → 403; D is 0700, the token file and databases 0600; control.py):
  GET     /sandbox/health    {"ok": true}
  GET/PUT /sandbox/rules     read / replace the rules (and reset faults to theirs); 400 if bad
  PATCH   /sandbox/faults    change only the faults named, e.g. {"fail_next": 2}
  GET     /sandbox/writes?since=N[&limit=L]   {"writes": [...], "last_seq": N}
  DELETE  /sandbox/data      empty records, the write log, the API usage counter and stats
  POST    /sandbox/expire_tokens               every issued token becomes invalid
  GET     /sandbox/stats     {"requests_in_flight", "peak_concurrent_requests",
                              "refused_concurrent_requests", "logins"} (stats.py)
  DELETE  /sandbox/stats     count again from now (the peak from the requests in flight)

Rules (JSON, every key optional; rules.py checks them):
  auth.clients {id: secret} (default {"sandbox": "sandbox"}), auth.token_ttl_s
  objects.S: fields, required, max_length, readonly, validation, trigger_fail (scope record
             or chunk: apex.py), lookups, field_types (types.py), external_ids (case
             folding), cpu_ms_per_record (apex.py)
             (an object not listed accepts any field; standard objects and any `__c`
             object exist, other names are unknown objects)
  faults: latency_ms (default: the --latency-ms given at start), fail_next + fail_status,
          lock_rows_next + lock_wrapped, stall_next + stall_ms (+ stall_after: the
          stalls begin after that many more data requests), api_daily_limit (default
          100,000), cpu_limit_ms (10,000), server_time_scale (1.0), max_concurrent_requests
          (0: no cap; above it 403 REQUEST_LIMIT_EXCEEDED "ConcurrentPerOrgLongTxn ...")
  The whole document, with examples: docs/sandbox-rules.md.

State: records, the write log and tokens live in SQLite under D and survive a restart.
Writes are applied in memory and committed by a writer thread within milliseconds; a
clean stop commits everything (see writer.py).
"""
