// The admin page's "Opted out" section: the numbers no line may send to, and an admin's change
// (opt out, or back in, always with a reason) through POST /v1/consent. It shares the token the
// page keeps in this tab's sessionStorage and loads whenever the page's panels are shown.
(function () {
  "use strict";

  var KEY = "mms-connector-admin-token";
  var HOW = { keyword: "Replied", provider_error: "Provider refused", admin: "Admin", api: "API", crm: "CRM" };
  var $ = function (id) { return document.getElementById(id); };

  function call(method, path, body) {
    return fetch(path, {
      method: method,
      headers: Object.assign(
        { Authorization: "Bearer " + sessionStorage.getItem(KEY), Accept: "application/json" },
        body ? { "Content-Type": "application/json" } : {}
      ),
      body: body ? JSON.stringify(body) : undefined,
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          throw new Error(typeof answer.detail === "string" ? answer.detail : "HTTP " + response.status);
        }
        return answer;
      });
    });
  }

  function cell(row, label, text) {
    var td = document.createElement("td");
    td.setAttribute("role", "cell");
    td.setAttribute("data-label", label);
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
  }

  function render(page) {
    var rows = $("consent-rows");
    rows.replaceChildren();
    page.numbers.forEach(function (change) {
      var row = document.createElement("tr");
      row.setAttribute("role", "row");
      cell(row, "Number", change.number);
      cell(row, "Since", new Date(change.at).toLocaleString());
      cell(row, "How", (HOW[change.source] || change.source) + (change.actor ? " (" + change.actor + ")" : ""));
      cell(row, "Reason", change.reason);
      rows.appendChild(row);
    });
    $("consent-table").hidden = page.numbers.length === 0;
    $("consent-empty").hidden = page.numbers.length !== 0;
    $("consent-count").textContent = page.count ? "(" + page.count + ")" : "";
  }

  function showError(text) {
    $("consent-error").textContent = text || "";
    $("consent-error").hidden = !text;
  }

  function load() {
    if (!sessionStorage.getItem(KEY)) { return; }
    call("GET", "/v1/consent?limit=500").then(render).catch(function (error) { showError("Could not load: " + error.message); });
  }

  function start() {
    var panels = $("panels");
    var form = $("consent-form");
    if (!panels || !form) { return; }
    new MutationObserver(function () { if (!panels.hidden) { load(); } })
      .observe(panels, { attributes: true, attributeFilter: ["hidden"] });
    $("refresh").addEventListener("click", load);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var optedOut = !event.submitter || event.submitter.getAttribute("data-opted-out") !== "false";
      var body = {
        number: $("consent-number").value.trim(),
        opted_out: optedOut,
        reason: $("consent-reason").value.trim(),
        source: "admin",
      };
      showError("");
      call("POST", "/v1/consent", body).then(function (change) {
        $("announce").textContent = change.number + (change.opted_out ? " is opted out." : " is opted back in.");
        form.reset();
        load();
      }).catch(function (error) { showError(error.message); });
    });
    if (!panels.hidden) { load(); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
