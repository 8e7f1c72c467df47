// Drives the crmsync sandbox org with jsforce, a second, independent Salesforce client.
//
// Run by tests/sandbox/test_conformance_jsforce.py, which sets the sandbox's rules and
// checks the outcome. Environment: SANDBOX_URL, CLIENT_ID, CLIENT_SECRET, API_VERSION,
// and NODE_EXTRA_CA_CERTS=<sandbox data dir>/ca.pem so Node trusts the sandbox's CA.
// Prints one JSON object on stdout (what each step got); any step that throws ends the
// script with exit status 1 and the error on stderr.

import jsforce from 'jsforce';

const { SANDBOX_URL, CLIENT_ID, CLIENT_SECRET, API_VERSION } = process.env;
const PAGED_RECORDS = 2300; // more than one query page (2,000)

function connection() {
  return new jsforce.Connection({
    oauth2: { loginUrl: SANDBOX_URL, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET },
    version: API_VERSION,
  });
}

function contact(extId, lastName) {
  return { ExtId__c: extId, LastName: lastName };
}

async function main() {
  const out = {};

  // 1. OAuth: the password flow (jsforce sends the form chunked) and client credentials.
  const conn = connection();
  const user = await conn.login('jsforce@sandbox.example.com', 'any password');
  out.login = { organizationId: user.organizationId, instanceUrl: conn.instanceUrl };
  const machine = connection();
  await machine.authorize({ grant_type: 'client_credentials' });
  out.clientCredentials = { accessToken: Boolean(machine.accessToken) };

  // 2. sObject Collections upsert with a rejected record (no LastName: required).
  out.collections = await conn.sobject('Contact').upsert(
    [contact('js-1', 'Ames'), { ExtId__c: 'js-2' }, contact('js-3', 'Cole')],
    'ExtId__c',
    { allOrNone: false },
  );

  // 3. Single-record upsert (PATCH sobjects/Contact/ExtId__c/js-single): created, then updated.
  out.singleCreated = await conn.sobject('Contact').upsert(contact('js-single', 'Solo'), 'ExtId__c');
  out.singleUpdated = await conn.sobject('Contact').upsert(contact('js-single', 'Solo2'), 'ExtId__c');

  // 4. Query with paging: more records than one page, fetched page by page.
  const many = Array.from({ length: PAGED_RECORDS }, (_, i) => contact(`page-${i}`, `P${i}`));
  const saved = await conn.sobject('Contact').upsert(many, 'ExtId__c', { allowRecursive: true });
  out.pagedSaved = saved.filter((r) => r.success).length;
  let fetches = 0;
  const query = conn.query('SELECT Id, ExtId__c FROM Contact', { autoFetch: true, maxFetch: 10000 });
  query.on('fetch', () => { fetches += 1; });
  const result = await query;
  out.query = {
    totalSize: result.totalSize,
    done: result.done,
    records: result.records.length,
    distinctIds: new Set(result.records.map((r) => r.Id)).size,
    fetches,
  };

  // 5. Limits and describe.
  out.limits = (await conn.limits()).DailyApiRequests;
  const describe = await conn.sobject('Contact').describe();
  out.describe = {
    name: describe.name,
    fields: Object.fromEntries(
      describe.fields.map((f) => [f.name, { type: f.type, externalId: f.externalId, caseSensitive: f.caseSensitive }]),
    ),
  };

  // 6. Composite: two Collections subrequests in one call, allOrNone.
  const base = `/services/data/v${API_VERSION}`;
  const subrequest = (referenceId, records) => ({
    method: 'PATCH',
    url: `${base}/composite/sobjects/Contact/ExtId__c`,
    referenceId,
    body: { allOrNone: true, records: records.map((r) => ({ attributes: { type: 'Contact' }, ...r })) },
  });
  const composite = await conn.requestPost(`${base}/composite`, {
    allOrNone: true,
    collateSubrequests: false,
    compositeRequest: [
      subrequest('first', [contact('cmp-1', 'One')]),
      subrequest('second', [contact('cmp-2', 'Two'), contact('cmp-3', 'Three')]),
    ],
  });
  out.composite = composite.compositeResponse.map((item) => ({
    referenceId: item.referenceId,
    httpStatusCode: item.httpStatusCode,
    success: item.body.map((r) => r.success),
  }));

  // 7. Deletes: one record (DELETE sobjects/Contact/{id}), then several in one call
  //    (sObject Collections: DELETE composite/sobjects?ids=...), one of them deleted already,
  //    then the first once more (404 ENTITY_IS_DELETED, thrown).
  const doomed = await conn.sobject('Contact').upsert(
    [contact('del-1', 'Dunn'), contact('del-2', 'Dyer'), contact('del-3', 'Dale')],
    'ExtId__c',
  );
  const [d1, d2, d3] = doomed.map((r) => r.id);
  out.deleteIds = { d1, d2, d3 };
  out.destroySingle = await conn.sobject('Contact').destroy(d1);
  out.destroyMany = await conn.sobject('Contact').destroy([d2, d3, d1]);
  try {
    await conn.sobject('Contact').destroy(d1);
    out.destroyAgain = { errorCode: null };
  } catch (error) {
    out.destroyAgain = { errorCode: error.errorCode ?? null };
  }
  const left = await conn.query("SELECT Id FROM Contact WHERE ExtId__c IN ('del-1', 'DEL-2', 'del-3')");
  out.deletedLeft = left.totalSize;

  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`jsforce conformance failed: ${error.name}: ${error.message}\n`);
  if (error.errorCode) process.stderr.write(`errorCode: ${error.errorCode}\n`);
  process.exit(1);
});
