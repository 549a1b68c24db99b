// The admin page's "Opted out" section: the numbers no line may send to, and an admin's change
// (opt out, or back in, always with a reason) through POST /v1/consent. It shares the token the
// page keeps in this tab's sessionStorage and loads whenever the page's panels are shown.
"use strict";

(() => {
  const KEY = "mms-connector-admin-token";
  const HOW = {
    keyword: "Replied",
    provider_error: "Provider refused",
    admin: "Admin",
    api: "API",
    crm: "CRM",
  };
  const $ = (id) => document.getElementById(id);

  function call(method, path, body) {
    return fetch(path, {
      method,
      headers: Object.assign(
        { Authorization: `Bearer ${sessionStorage.getItem(KEY)}`, Accept: "application/json" },
        body ? { "Content-Type": "application/json" } : {},
      ),
      body: body ? JSON.stringify(body) : undefined,
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    }).then((response) =>
      response
        .json()
        .catch(() => ({}))
        .then((answer) => {
          if (!response.ok) {
            throw new Error(
              typeof answer.detail === "string" ? answer.detail : `HTTP ${response.status}`,
            );
          }
          return answer;
        }),
    );
  }

  function cell(row, label, text) {
    const td = document.createElement("td");
    td.setAttribute("role", "cell");
    td.setAttribute("data-label", label);
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
  }

  function render(page) {
    const rows = $("consent-rows");
    rows.replaceChildren();
    page.numbers.forEach((change) => {
      const row = document.createElement("tr");
      row.setAttribute("role", "row");
      cell(row, "Number", change.number);
      cell(row, "Since", new Date(change.at).toLocaleString());
      cell(
        row,
        "How",
        (HOW[change.source] || change.source) + (change.actor ? ` (${change.actor})` : ""),
      );
      cell(row, "Reason", change.reason);
      rows.appendChild(row);
    });
    $("consent-table").hidden = page.numbers.length === 0;
    $("consent-empty").hidden = page.numbers.length !== 0;
    $("consent-count").textContent = page.count ? `(${page.count})` : "";
  }

  function showError(text) {
    $("consent-error").textContent = text || "";
    $("consent-error").hidden = !text;
  }

  function load() {
    if (!sessionStorage.getItem(KEY)) {
      return;
    }
    call("GET", "/v1/consent?limit=500")
      .then(render)
      .catch((error) => {
        showError(`Could not load: ${error.message}`);
      });
  }

  function start() {
    const panels = $("panels");
    const form = $("consent-form");
    if (!panels || !form) {
      return;
    }
    new MutationObserver(() => {
      if (!panels.hidden) {
        load();
      }
    }).observe(panels, { attributes: true, attributeFilter: ["hidden"] });
    $("refresh").addEventListener("click", load);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const optedOut = event.submitter?.getAttribute("data-opted-out") !== "false";
      const body = {
        number: $("consent-number").value.trim(),
        opted_out: optedOut,
        reason: $("consent-reason").value.trim(),
        source: "admin",
      };
      showError("");
      call("POST", "/v1/consent", body)
        .then((change) => {
          $("announce").textContent =
            change.number + (change.opted_out ? " is opted out." : " is opted back in.");
          form.reset();
          load();
        })
        .catch((error) => {
          showError(error.message);
        });
    });
    if (!panels.hidden) {
      load();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
