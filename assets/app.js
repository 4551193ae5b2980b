// Slipway's dashboard: live updates without reloading. No framework; served from the binary.
"use strict";

// Deployment page: follow the event stream, updating each process's status and output. A
// process the page does not show yet (the plan is recorded once the deployment starts) brings
// the grid and the outputs in from the server, without reloading the page.
function followDeployment(root) {
  const source = new EventSource(root.dataset.events);
  const output = (id) => document.getElementById("output-" + id);
  let refreshing = null;
  const refresh = () => {
    if (refreshing) { return refreshing; }
    refreshing = fetch(window.location.href, { credentials: "same-origin" })
      .then((response) => response.text())
      .then((html) => {
        const page = new DOMParser().parseFromString(html, "text/html");
        for (const id of ["summary", "grid", "outputs"]) {
          const fresh = page.getElementById(id);
          const here = document.getElementById(id);
          if (fresh && here) { here.replaceWith(fresh); }
        }
      })
      .finally(() => { refreshing = null; });
    return refreshing;
  };
  source.addEventListener("output", async (e) => {
    const event = JSON.parse(e.data);
    if (!output(event.process_id)) { await refresh(); return; }
    output(event.process_id).textContent += event.text;
  });
  source.addEventListener("process", async (e) => {
    const event = JSON.parse(e.data);
    let cells = document.querySelectorAll('[data-process="' + event.process_id + '"]');
    if (cells.length === 0) {
      await refresh();
      cells = document.querySelectorAll('[data-process="' + event.process_id + '"]');
    }
    for (const cell of cells) {
      cell.textContent = event.status;
      cell.className = "badge status-" + event.status;
      cell.dataset.status = event.status;
    }
  });
  source.addEventListener("end", async (e) => {
    const event = JSON.parse(e.data);
    source.close();
    // The final record: every step's status and duration, and the whole output.
    await refresh();
    const status = document.getElementById("deployment-status");
    if (status) {
      status.textContent = event.status;
      status.className = "badge status-" + event.status;
    }
    const cancel = document.getElementById("cancel-form");
    if (cancel) { cancel.remove(); }
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
