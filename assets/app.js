// Slipway's dashboard: live updates without reloading. No framework; served from the binary.
"use strict";

// Deployment page: follow the event stream, updating each process's status and output. The
// stream replays everything from the start, so the page's output boxes are emptied when it
// opens. A process the page does not show yet (the plan is recorded once the deployment
// starts) brings the summary, grid and outputs in from the server without reloading the page;
// events that arrive meanwhile wait and are applied after it. A 401 (signed out) closes the
// stream for good, as EventSource does with any answer but 200.
function followDeployment(root) {
  const source = new EventSource(root.dataset.events);
  let refreshing = null;
  let waiting = [];

  const refresh = () => {
    if (refreshing) { return refreshing; }
    refreshing = fetch(window.location.href, { credentials: "same-origin" })
      .then((response) => (response.ok ? response.text() : null))
      .then((html) => {
        if (html === null) { return; }
        const page = new DOMParser().parseFromString(html, "text/html");
        for (const id of ["summary", "grid", "outputs"]) {
          const fresh = page.getElementById(id);
          const here = document.getElementById(id);
          if (fresh && here) { here.replaceWith(fresh); }
        }
      })
      .catch(() => {})
      .finally(() => {
        refreshing = null;
        const queued = waiting;
        waiting = [];
        for (const event of queued) { apply(event, false); }
      });
    return refreshing;
  };

  // Applies an event to the page; one it cannot place yet waits for a refresh.
  const apply = (event, mayRefresh) => {
    if (event.event === "output") {
      const pre = document.getElementById("output-" + event.process_id);
      if (pre) { pre.textContent += event.text; return; }
    } else if (event.event === "process") {
      const cells = document.querySelectorAll('[data-process="' + event.process_id + '"]');
      if (cells.length > 0) {
        for (const cell of cells) {
          cell.textContent = event.status;
          cell.className = "badge status-" + event.status;
          cell.dataset.status = event.status;
        }
        return;
      }
    }
    if (mayRefresh) { waiting.push(event); refresh(); }
  };

  const handle = (e) => {
    const event = JSON.parse(e.data);
    if (refreshing) { waiting.push(event); } else { apply(event, true); }
  };
  source.addEventListener("open", () => {
    for (const pre of document.querySelectorAll("pre.output")) { pre.textContent = ""; }
  });
  source.addEventListener("output", handle);
  source.addEventListener("process", handle);
  source.addEventListener("end", async (e) => {
    const event = JSON.parse(e.data);
    source.close();
    // The final record: every step's status and duration, and the whole output.
    if (refreshing) { await refreshing; }
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

// Projects page: refresh each project's state (a deployment starting or ending) while the
// page is in view; stop once the session is over.
function watchProjects(root) {
  let timer = null;
  let busy = false;
  const refresh = async () => {
    if (busy || document.visibilityState !== "visible") { return; }
    const ids = [...root.querySelectorAll("[data-project]")].map((row) => row.dataset.project);
    if (ids.length === 0) { return; }
    busy = true;
    try {
      const response = await fetch(root.dataset.status + "?ids=" + ids.join(","), { credentials: "same-origin" });
      if (!response.ok) { clearInterval(timer); return; }
      for (const project of await response.json()) {
        const badge = root.querySelector('[data-project="' + project.id + '"] .state');
        if (badge) {
          badge.textContent = project.state;
          badge.className = "badge state status-" + project.state;
        }
      }
    } catch (error) {
      clearInterval(timer);
    } finally {
      busy = false;
    }
  };
  timer = setInterval(refresh, 2000);
}

// Copy buttons: put the text of the element they name on the clipboard, or, where the page is
// not served over https, select it for the person to copy.
function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", () => {
      const element = document.getElementById(button.dataset.copy);
      if (navigator.clipboard) {
        navigator.clipboard.writeText(element.textContent).then(() => { button.textContent = "Copied"; });
      } else {
        const range = document.createRange();
        range.selectNodeContents(element);
        const selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
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
