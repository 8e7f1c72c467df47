"""The HTTP intake: `POST /api/v1/accounts/<slug>/records` for applications that are not
Django (docs/integration.md › The HTTP intake).

- `views`: the endpoint, its checks in order and its answers;
- `bodies`: an application/x-ndjson or application/json body as numbered records;
- `replies`: enqueue, all or nothing, remembering the answer under an Idempotency-Key;
- `rate`: requests per token and minute, counted in the shared cache;
- `models`: `IntakeReply`, the answers kept for 24 hours.

Tokens are the accounts app's (accounts.intake_tokens); records go through the outbox
(exports.outbox.enqueue_numbered), validated like every other way in.
"""
