// Slipway's dashboard: live updates without reloading. No framework; served from the binary.
"use strict";

// Deployment page: follow the event stream, updating each process's status and output.
function followDeployment(root) {
  const source = new EventSource(root.dataset.events);
  const output = (id) => document.getElementById("output-" + id);
  source.addEventListener("output", (e) => {
    const event = JSON.parse(e.data);
    const pre = output(event.process_id);
    if (pre) { pre.textContent += event.text; }
  });
  source.addEventListener("process", (e) => {
    const event = JSON.parse(e.data);
    for (const cell of document.querySelectorAll('[data-process="' + event.process_id + '"]')) {
      cell.textContent = event.status;
      cell.className = "badge status-" + event.status;
    }
  });
  source.addEventListener("end", (e) => {
    const event = JSON.parse(e.data);
    const status = document.getElementById("deployment-status");
    if (status) {
      status.textContent = event.status;
      status.className = "badge status-" + event.status;
    }
    const cancel = document.getElementById("cancel-form");
    if (cancel) { cancel.remove(); }
    source.close();
    // The durations and final outputs come from the record.
    if (root.dataset.started === "live") { window.location.reload(); }
  });
}

// Projects page: refresh the status of projects that are running or pending.
function watchProjects(root) {
  const refresh = async () => {
    const ids = [...root.querySelectorAll("[data-project]")].map((row) => row.dataset.project);
    if (ids.length === 0) { return; }
    const response = await fetch(root.dataset.status + "?ids=" + ids.join(","), { credentials: "same-origin" });
    if (!response.ok) { return; }
    for (const project of await response.json()) {
      const badge = root.querySelector('[data-project="' + project.id + '"] .state');
      if (badge) {
        badge.textContent = project.state;
        badge.className = "badge state status-" + project.state;
      }
    }
  };
  setInterval(refresh, 2000);
}

// Copy buttons: put the text of the element they name on the clipboard.
function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => {
      const text = document.getElementById(button.dataset.copy).textContent;
      navigator.clipboard.writeText(text).then(() => { button.textContent = "Copied"; });
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const deployment = document.getElementById("deployment");
  if (deployment && deployment.dataset.events) { followDeployment(deployment); }
  const projects = document.getElementById("projects");
  if (projects) { watchProjects(projects); }
  copyButtons();
});
