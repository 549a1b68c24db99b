// The admin page: asks for an API token (kept in this tab's sessionStorage only, never in a URL
// or cookie), then reads /v1/status, the dead jobs and the sends to check, with a retry for each.
(function () {
  "use strict";

  var KEY = "mms-connector-admin-token";
  var REJECTED = "That token is not accepted";
  var $ = function (id) { return document.getElementById(id); };

  function token() { return sessionStorage.getItem(KEY); }

  function Rejected() {}

  function api(method, path) {
    return fetch(path, {
      method: method,
      headers: { Authorization: "Bearer " + token(), Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    }).then(function (response) {
      if (response.status === 401) { throw new Rejected(); }
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var detail = typeof body.detail === "string" ? body.detail : "HTTP " + response.status;
          throw new Error(detail);
        }
        return body;
      });
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function announce(text) { $("announce").textContent = text; }

  function showLogin(error) {
    $("panels").hidden = true;
    $("signed-in").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = error || "";
    $("login-error").hidden = !error;
    $("token").value = "";
    $("token").focus();
  }

  function failed(error) {
    if (error instanceof Rejected) {
      sessionStorage.removeItem(KEY);
      showLogin(REJECTED);
      return;
    }
    announce("Could not load: " + error.message);
  }

  // -- status -------------------------------------------------------------------------------

  function targetState(value) {
    var text = String(value);
    if (text === "ok") { return { word: "On", kind: "delivered", reason: "" }; }
    if (text.indexOf("paused") === 0) {
      return { word: "Paused", kind: "paused", reason: text.replace(/^paused:?\s*/, "") };
    }
    if (text.indexOf("off") === 0) {
      return { word: "Off", kind: "off", reason: text.replace(/^off\s*\(?/, "").replace(/\)$/, "") };
    }
    return { word: text, kind: "", reason: "" };
  }

  function stateItem(name, word, kind, reason) {
    var item = el("li", "target");
    item.appendChild(el("span", "target-name", name));
    item.appendChild(el("span", "status" + (kind ? " status-" + kind : ""), word));
    if (reason) { item.appendChild(el("span", "target-reason", reason)); }
    return item;
  }

  var NAMES = { hubspot: "HubSpot", salesforce: "Salesforce", aircall: "Aircall", cloudtalk: "CloudTalk" };

  // A paused CRM can be resumed at once (e.g. once new credentials are installed).
  function resumeButton(name) {
    var label = NAMES[name] || name;
    var button = el("button", "btn", "Resume");
    button.type = "button";
    button.setAttribute("aria-label", "Resume " + label);
    button.addEventListener("click", function () {
      button.disabled = true;
      api("POST", "/v1/crms/" + encodeURIComponent(name) + "/resume").then(function () {
        announce(label + " resumed: its waiting jobs run now.");
        refreshStatus();
      }).catch(function (error) {
        button.disabled = false;
        failed(error);
      });
    });
    return button;
  }

  function renderStatus(report) {
    var overall = $("overall");
    overall.textContent = report.status === "ok" ? "All good" : report.status === "degraded" ? "Degraded" : "Unavailable";
    overall.className = "status " + (report.status === "ok" ? "status-delivered" : report.status === "degraded" ? "status-paused" : "status-not-sent");

    var targets = $("targets");
    targets.replaceChildren();
    [["crms", "CRM"], ["providers", "Provider"]].forEach(function (group) {
      var entries = report[group[0]] || {};
      Object.keys(entries).forEach(function (name) {
        var state = targetState(entries[name]);
        var item = stateItem((NAMES[name] || name) + " (" + group[1] + ")", state.word, state.kind, state.reason);
        if (group[0] === "crms" && state.kind === "paused") { item.appendChild(resumeButton(name)); }
        targets.appendChild(item);
      });
    });

    var checks = $("checks");
    checks.replaceChildren();
    var database = report.database === "ok";
    checks.appendChild(stateItem("Database", database ? "OK" : "Error", database ? "delivered" : "not-sent", database ? "" : report.database));
    Object.keys(report).forEach(function (name) {
      var value = report[name];
      if (name === "jobs" || !value || typeof value !== "object" || !("ok" in value)) { return; }
      var label = name.charAt(0).toUpperCase() + name.slice(1);
      var reason = value.ok ? "" : (value.error || "not loaded") + (value.using ? "; using " + value.using : "");
      checks.appendChild(stateItem(label, value.ok ? "OK" : "Error", value.ok ? "delivered" : "not-sent", reason));
    });

    var counts = $("counts");
    counts.replaceChildren();
    var jobs = report.jobs || {};
    var states = ["queued", "running", "dead"];
    Object.keys(jobs).forEach(function (s) { if (states.indexOf(s) < 0) { states.push(s); } });
    states.forEach(function (s) {
      var row = el("tr", s === "dead" && jobs[s] ? "count-dead" : "");
      var head = el("th", "", s.charAt(0).toUpperCase() + s.slice(1));
      head.scope = "row";
      row.appendChild(head);
      row.appendChild(el("td", "num", jobs[s] || 0));
      counts.appendChild(row);
    });
  }

  // -- tables -------------------------------------------------------------------------------

  function when(iso) {
    if (!iso) { return ""; }
    var date = new Date(iso);
    return isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function masked(number) {
    var digits = String(number || "").replace(/\D/g, "");
    return digits.length > 4 ? "••• " + digits.slice(-4) : String(number || "");
  }

  function cell(row, label, content, className) {
    var td = el("td", className || "");
    td.setAttribute("role", "cell");
    td.setAttribute("data-label", label);
    if (content instanceof Node) { td.appendChild(content); } else { td.textContent = content === null || content === undefined ? "" : String(content); }
    row.appendChild(td);
    return td;
  }

  function fill(kind, items, build) {
    var rows = $(kind + "-rows");
    rows.replaceChildren();
    items.forEach(function (item) { rows.appendChild(build(item)); });
    updateCount(kind);
  }

  function updateCount(kind) {
    var n = $(kind + "-rows").children.length;
    $(kind + "-table").hidden = n === 0;
    $(kind + "-empty").hidden = n !== 0;
    $(kind + "-count").textContent = n ? "(" + n + ")" : "";
    if (kind === "dead") { $("retry-all").disabled = n === 0; }
  }

  function retryButton(text, label, onClick) {
    var button = el("button", "btn", text);
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", function () { onClick(button); });
    return button;
  }

  function deadRow(job) {
    var row = el("tr");
    row.setAttribute("role", "row");
    cell(row, "Job", "#" + job.id);
    cell(row, "Kind", job.kind);
    cell(row, "Target", job.target);
    cell(row, "Attempts", job.attempts, "num");
    cell(row, "Last error", job.last_error || "", "error-text");
    cell(row, "Died", when(job.updated_at));
    cell(row, "", retryButton("Retry", "Retry job #" + job.id + " (" + job.kind + ", " + job.target + ")", function (button) {
      button.disabled = true;
      api("POST", "/v1/jobs/" + job.id + "/retry").then(function () {
        row.remove();
        updateCount("dead");
        announce("Job #" + job.id + " is queued again.");
        refreshStatus();
      }).catch(function (error) {
        button.disabled = false;
        failed(error);
      });
    }), "action");
    return row;
  }

  function sendRow(message) {
    var row = el("tr");
    row.setAttribute("role", "row");
    cell(row, "Sent", when(message.sent_at));
    var kind = message.status === "not_sent" ? "not-sent" : "paused";
    cell(row, "Status", el("span", "status status-" + kind, message.status_label));
    cell(row, "From", message.line_number, "nowrap");
    var to = el("span", "", masked(message.other_party));
    to.title = "Recipient ending " + String(message.other_party).slice(-4);
    cell(row, "To", to, "nowrap");
    cell(row, "Message", message.text || (message.attachments.length ? message.attachments.length + " file(s)" : ""), "message-text");
    cell(row, "Error", message.send_error || "", "error-text");
    if (message.retryable) {
      cell(row, "", retryButton("Retry send", "Retry send to " + masked(message.other_party) + " (message #" + message.id + ")", function (button) {
        var warning = message.status === "unknown"
          ? "The earlier attempt may have reached the recipient. Check the provider's app first.\n\nSend this message to " + masked(message.other_party) + " again?"
          : "Send this message to " + masked(message.other_party) + " again?";
        if (!window.confirm(warning)) { return; }
        button.disabled = true;
        api("POST", "/v1/messages/" + message.id + "/retry").then(function () {
          row.remove();
          updateCount("sends");
          announce("The message to " + masked(message.other_party) + " is queued to be sent again.");
        }).catch(function (error) {
          button.disabled = false;
          failed(error);
        });
      }), "action");
    } else {
      cell(row, "", "", "action");
    }
    return row;
  }

  // -- set-up checklist (the checks of `mms-connector doctor`, run on demand) ---------------

  var DOCTOR_WORDS = {
    pass: { word: "✓ Pass", kind: "delivered" },
    fail: { word: "✗ Fail", kind: "not-sent" },
    skip: { word: "– Off", kind: "off" },
  };

  function doctorItem(check) {
    var look = DOCTOR_WORDS[check.state] || { word: check.state, kind: "" };
    var item = stateItem(check.name, look.word, look.kind, check.detail);
    item.setAttribute("data-state", check.state);
    if (check.state === "fail" && check.fix) {
      item.appendChild(el("span", "target-reason doctor-fix", "Fix: " + check.fix));
    }
    return item;
  }

  function runDoctor() {
    var button = $("doctor-run");
    button.disabled = true;
    $("doctor-summary").textContent = "Checking… (this calls the CRMs and providers)";
    return api("GET", "/v1/doctor").then(function (report) {
      var list = $("doctor-checks");
      list.replaceChildren();
      report.checks.forEach(function (check) { list.appendChild(doctorItem(check)); });
      var failures = report.checks.filter(function (c) { return c.state === "fail"; }).length;
      $("doctor-summary").textContent = report.ok ? "All checks pass." : failures + " check(s) fail.";
      announce("Set-up checklist: " + $("doctor-summary").textContent);
    }).catch(function (error) {
      $("doctor-summary").textContent = "";
      failed(error);
    }).then(function () { button.disabled = false; });
  }

  // -- loading ------------------------------------------------------------------------------

  function refreshStatus() {
    return api("GET", "/v1/status").then(renderStatus).catch(failed);
  }

  function load() {
    announce("Loading…");
    return Promise.all([
      api("GET", "/v1/status"),
      api("GET", "/v1/jobs?state=dead&limit=500"),
      api("GET", "/v1/messages?status=unknown&status=not_sent&limit=500"),
    ]).then(function (answers) {
      $("login").hidden = true;
      $("login-error").hidden = true;
      $("signed-in").hidden = false;
      $("panels").hidden = false;
      renderStatus(answers[0]);
      fill("dead", answers[1], deadRow);
      fill("sends", answers[2], sendRow);
      announce("Updated " + new Date().toLocaleTimeString() + ".");
    }).catch(failed);
  }

  function start() {
    $("login").addEventListener("submit", function (event) {
      event.preventDefault();
      var value = $("token").value.trim();
      $("token").value = "";
      if (!value) { return; }
      sessionStorage.setItem(KEY, value);
      load();
    });
    $("refresh").addEventListener("click", load);
    $("doctor-run").addEventListener("click", runDoctor);
    $("sign-out").addEventListener("click", function () {
      sessionStorage.removeItem(KEY);
      announce("");
      showLogin("");
    });
    $("retry-all").addEventListener("click", function () {
      var n = $("dead-rows").children.length;
      if (!window.confirm("Retry all " + n + " dead job(s) from their first attempt?")) { return; }
      $("retry-all").disabled = true;
      api("POST", "/v1/jobs/retry-dead").then(function (answer) {
        $("dead-rows").replaceChildren();
        updateCount("dead");
        announce(answer.replayed + " job(s) queued again.");
        refreshStatus();
      }).catch(function (error) {
        updateCount("dead");
        failed(error);
      });
    });
    if (token()) { load(); } else { showLogin(""); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
