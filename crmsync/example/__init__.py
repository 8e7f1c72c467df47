"""A small example host app (people, companies and their touchpoints) that exports its
models by declaring them (crm_exports.py): `make demo` and the tests use it. Installed only
on a development machine (CRMSYNC_DEV), like the sandbox org."""
