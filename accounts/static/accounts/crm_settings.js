/*
 * CRM settings page: keep "Pause on export errors" in step with "Export to CRM".
 *
 * 1. Export to CRM unticked → the pause rows are hidden and their inputs disabled
 *    (not posted; the server keeps the stored value).
 * 2. Export to CRM ticked → the rows are shown; if the page was loaded with export
 *    off they are not on the page at all, so they are fetched from the server.
 * 3. Pause unticked while it is stored on → the warning with its "I understand…"
 *    box appears, with a button that cancels (ticks pause again). The server
 *    refuses the change without the box, whatever this script does.
 */
(function () {
  "use strict";

  const configNode = document.getElementById("crm-settings-config");
  const form = document.getElementById("crmsettings_form");
  if (!configNode || !form) return;
  const config = JSON.parse(configNode.textContent);
  const exportBox = form.querySelector("#id_export_enabled");
  if (!config.editable || !exportBox) return;

  function pauseRows() {
    return form.querySelectorAll(".form-row.field-pause_on_export_errors, .form-row.field-confirm_pause_off");
  }

  function setRowVisible(row, visible) {
    row.hidden = !visible;
    row.querySelectorAll("input").forEach(function (input) { input.disabled = !visible; });
  }

  function updateConfirmation() {
    const pauseBox = form.querySelector("#id_pause_on_export_errors");
    const confirmRow = form.querySelector(".form-row.field-confirm_pause_off");
    if (!pauseBox || !confirmRow) return;
    const turningOff = config.storedPause && !pauseBox.checked && !pauseBox.disabled;
    const refused = confirmRow.classList.contains("errors");
    setRowVisible(confirmRow, turningOff || (refused && !pauseBox.checked));
    if (!turningOff) {
      const confirmBox = confirmRow.querySelector("#id_confirm_pause_off");
      if (confirmBox) confirmBox.checked = false;
    }
  }

  function wirePauseRows() {
    const pauseBox = form.querySelector("#id_pause_on_export_errors");
    const confirmRow = form.querySelector(".form-row.field-confirm_pause_off");
    if (!pauseBox || !confirmRow || pauseBox.dataset.wired) return;
    pauseBox.dataset.wired = "1";
    pauseBox.addEventListener("change", updateConfirmation);
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.id = "keep-pause-on";
    cancel.className = "button";
    cancel.textContent = "Cancel, keep pause on";
    cancel.addEventListener("click", function () {
      pauseBox.checked = true;
      confirmRow.classList.remove("errors");
      const errors = confirmRow.querySelector(".errorlist");
      if (errors) errors.remove();
      updateConfirmation();
    });
    confirmRow.appendChild(cancel);
    updateConfirmation();
  }

  function insertPauseRows(html) {
    const holder = document.createElement("div");
    holder.innerHTML = html;
    const exportRow = form.querySelector(".form-row.field-export_enabled");
    let anchor = exportRow;
    holder.querySelectorAll(".form-row").forEach(function (row) {
      anchor.after(row);
      anchor = row;
    });
  }

  function showPause(visible) {
    const rows = pauseRows();
    if (rows.length) {
      rows.forEach(function (row) { setRowVisible(row, visible); });
      updateConfirmation();
      return;
    }
    if (!visible) return;
    fetch(config.pauseFieldUrl, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        if (!exportBox.checked || pauseRows().length) return;
        insertPauseRows(html);
        wirePauseRows();
      })
      .catch(function (error) {
        console.error("Could not load the pause setting:", error);
      });
  }

  exportBox.addEventListener("change", function () { showPause(exportBox.checked); });
  wirePauseRows();
  if (pauseRows().length) showPause(exportBox.checked);
})();
