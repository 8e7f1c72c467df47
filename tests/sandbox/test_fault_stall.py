"""`stall_next` + `stall_ms`: the next N data requests answer late (client timeouts)."""

from __future__ import annotations

import time

import pytest
import requests


def test_stalled_request_times_out_and_the_next_one_is_prompt(sandbox):
    sf = sandbox.salesforce()
    sandbox.set_faults(stall_next=1, stall_ms=5000)

    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.restful("limits", timeout=0.5)

    started = time.monotonic()
    sf.restful("limits", timeout=5)
    assert time.monotonic() - started < 2
