"""In a real browser at 1280 px, the CRM settings page after a refused save (pause unticked
without "I understand…"): the pause warning keeps its yellow background and orange edge,
exactly when it matters, and every secret's "Remove the stored …" box sits on the secret's
line, in one column, its label on one line, like the client secret's (screenshot:
var/test-artifacts/crm-settings-refused-save.png)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.admin.conftest import change_url, log_in, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIRM_ROW = ".form-row.field-confirm_pause_off"
WARNING_YELLOW = "rgb(255, 255, 204)"  # --message-warning-bg, as on first showing
SECRETS = ("client_secret", "private_key", "password", "alert_webhook_secret")


def warning_style(page) -> tuple[str, str]:
    return tuple(
        page.locator(CONFIRM_ROW).evaluate(
            "row => [getComputedStyle(row).backgroundColor, getComputedStyle(row).borderLeftWidth]"
        )
    )


def remove_box(page, name: str) -> dict:
    """Where the secret's input and its "remove" box and label are, and whether the label
    fits its box."""
    return page.locator(f".form-row.field-{name}").evaluate(
        """(row, name) => {
          const box = b => b.getBoundingClientRect();
          const input = row.querySelector('#id_' + name);
          const check = row.querySelector('#id_' + name + '_clear');
          const label = row.querySelector('label[for="id_' + name + '_clear"]');
          return {inputTop: box(input).top, checkTop: box(check).top, checkLeft: box(check).left,
                  labelHeight: box(label).height, rowRight: box(row).right,
                  labelRight: box(label).right, labelClipped: label.scrollWidth > label.clientWidth};
        }""",
        name,
    )


def test_after_a_refused_save_the_warning_stays_yellow_and_remove_boxes_line_up(
    page, superuser, crm_settings
):
    log_in(page, superuser.username)
    page.goto(change_url(crm_settings))
    page.uncheck("#id_pause_on_export_errors")
    expect(page.locator(CONFIRM_ROW)).to_be_visible()
    assert warning_style(page) == (WARNING_YELLOW, "4px")

    page.click("input[name=_save]")

    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator(CONFIRM_ROW)).to_contain_text("was not turned off")
    expect(page.locator(CONFIRM_ROW)).to_be_visible()
    assert warning_style(page) == (WARNING_YELLOW, "4px")

    boxes = {name: remove_box(page, name) for name in SECRETS}
    screenshot(page, "crm-settings-refused-save")
    for name, box in boxes.items():
        assert abs(box["checkTop"] - box["inputTop"]) < 12, (name, box)  # on the secret's line
        assert box["labelHeight"] < 24 and not box["labelClipped"], (name, box)  # one line
        assert box["labelRight"] <= box["rowRight"], (name, box)
    assert len({round(box["checkLeft"]) for box in boxes.values()}) == 1, boxes  # one column
