// The admin page: asks for an API token (kept in this tab's sessionStorage only, never in a URL
// or cookie), then reads /v1/status, the dead jobs and the sends to check, with a retry for each.
"use strict";

(() => {
  const KEY = "mms-connector-admin-token";
  const REJECTED = "That token is not accepted";
  const MAYBE_DELIVERED =
    "The earlier attempt may have reached the recipient. Check the provider's app first.";
  const $ = (id) => document.getElementById(id);

  function token() {
    return sessionStorage.getItem(KEY);
  }

  class Rejected {}

  function api(method, path) {
    return fetch(path, {
      method,
      headers: { Authorization: `Bearer ${token()}`, Accept: "application/json" },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    }).then((response) => {
      if (response.status === 401) {
        throw new Rejected();
      }
      return response
        .json()
        .catch(() => ({}))
        .then((body) => {
          if (!response.ok) {
            const detail =
              typeof body.detail === "string" ? body.detail : `HTTP ${response.status}`;
            throw new Error(detail);
          }
          return body;
        });
    });
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function announce(text) {
    $("announce").textContent = text;
  }

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
    announce(`Could not load: ${error.message}`);
  }

  // -- status -------------------------------------------------------------------------------

  function targetState(value) {
    const text = String(value);
    if (text === "ok") {
      return { word: "On", kind: "delivered", reason: "" };
    }
    if (text.startsWith("paused")) {
      return { word: "Paused", kind: "paused", reason: text.replace(/^paused:?\s*/, "") };
    }
    if (text.startsWith("off")) {
      return {
        word: "Off",
        kind: "off",
        reason: text.replace(/^off\s*\(?/, "").replace(/\)$/, ""),
      };
    }
    return { word: text, kind: "", reason: "" };
  }

  function stateItem(name, word, kind, reason) {
    const item = el("li", "target");
    item.appendChild(el("span", "target-name", name));
    item.appendChild(el("span", `status${kind ? ` status-${kind}` : ""}`, word));
    if (reason) {
      item.appendChild(el("span", "target-reason", reason));
    }
    return item;
  }

  const NAMES = {
    hubspot: "HubSpot",
    salesforce: "Salesforce",
    aircall: "Aircall",
    cloudtalk: "CloudTalk",
  };

  // A paused CRM can be resumed at once (e.g. once new credentials are installed).
  function resumeButton(name) {
    const label = NAMES[name] || name;
    const button = el("button", "btn", "Resume");
    button.type = "button";
    button.setAttribute("aria-label", `Resume ${label}`);
    button.addEventListener("click", () => {
      button.disabled = true;
      api("POST", `/v1/crms/${encodeURIComponent(name)}/resume`)
        .then(() => {
          announce(`${label} resumed: its waiting jobs run now.`);
          refreshStatus();
        })
        .catch((error) => {
          button.disabled = false;
          failed(error);
        });
    });
    return button;
  }

  function renderStatus(report) {
    const overall = $("overall");
    const [word, kind] =
      report.status === "ok"
        ? ["All good", "delivered"]
        : report.status === "degraded"
          ? ["Degraded", "paused"]
          : ["Unavailable", "not-sent"];
    overall.textContent = word;
    overall.className = `status status-${kind}`;

    const targets = $("targets");
    targets.replaceChildren();
    [
      ["crms", "CRM"],
      ["providers", "Provider"],
    ].forEach((group) => {
      const entries = report[group[0]] || {};
      Object.keys(entries).forEach((name) => {
        const state = targetState(entries[name]);
        const item = stateItem(
          `${NAMES[name] || name} (${group[1]})`,
          state.word,
          state.kind,
          state.reason,
        );
        if (group[0] === "crms" && state.kind === "paused") {
          item.appendChild(resumeButton(name));
        }
        targets.appendChild(item);
      });
    });

    const checks = $("checks");
    checks.replaceChildren();
    const database = report.database === "ok";
    checks.appendChild(
      stateItem(
        "Database",
        database ? "OK" : "Error",
        database ? "delivered" : "not-sent",
        database ? "" : report.database,
      ),
    );
    Object.keys(report).forEach((name) => {
      const value = report[name];
      if (name === "jobs" || !value || typeof value !== "object" || !("ok" in value)) {
        return;
      }
      const label = name.charAt(0).toUpperCase() + name.slice(1);
      const reason = value.ok
        ? ""
        : (value.error || "not loaded") + (value.using ? `; using ${value.using}` : "");
      checks.appendChild(
        stateItem(label, value.ok ? "OK" : "Error", value.ok ? "delivered" : "not-sent", reason),
      );
    });

    const counts = $("counts");
    counts.replaceChildren();
    const jobs = report.jobs || {};
    const states = ["queued", "running", "dead"];
    Object.keys(jobs).forEach((s) => {
      if (!states.includes(s)) {
        states.push(s);
      }
    });
    states.forEach((s) => {
      const row = el("tr", s === "dead" && jobs[s] ? "count-dead" : "");
      const head = el("th", "", s.charAt(0).toUpperCase() + s.slice(1));
      head.scope = "row";
      row.appendChild(head);
      row.appendChild(el("td", "num", jobs[s] || 0));
      counts.appendChild(row);
    });
  }

  // -- tables -------------------------------------------------------------------------------

  function when(iso) {
    if (!iso) {
      return "";
    }
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function masked(number) {
    const digits = String(number || "").replace(/\D/g, "");
    return digits.length > 4 ? `••• ${digits.slice(-4)}` : String(number || "");
  }

  function cell(row, label, content, className) {
    const td = el("td", className || "");
    td.setAttribute("role", "cell");
    td.setAttribute("data-label", label);
    if (content instanceof Node) {
      td.appendChild(content);
    } else {
      td.textContent = content === null || content === undefined ? "" : String(content);
    }
    row.appendChild(td);
    return td;
  }

  function fill(kind, items, build) {
    const rows = $(`${kind}-rows`);
    rows.replaceChildren();
    items.forEach((item) => {
      rows.appendChild(build(item));
    });
    updateCount(kind);
  }

  function updateCount(kind) {
    const n = $(`${kind}-rows`).children.length;
    $(`${kind}-table`).hidden = n === 0;
    $(`${kind}-empty`).hidden = n !== 0;
    $(`${kind}-count`).textContent = n ? `(${n})` : "";
    if (kind === "dead") {
      $("retry-all").disabled = n === 0;
    }
  }

  function retryButton(text, label, onClick) {
    const button = el("button", "btn", text);
    button.type = "button";
    button.setAttribute("aria-label", label);
    button.addEventListener("click", () => {
      onClick(button);
    });
    return button;
  }

  function deadRow(job) {
    const row = el("tr");
    row.setAttribute("role", "row");
    cell(row, "Job", `#${job.id}`);
    cell(row, "Kind", job.kind);
    cell(row, "Target", job.target);
    cell(row, "Attempts", job.attempts, "num");
    cell(row, "Last error", job.last_error || "", "error-text");
    cell(row, "Died", when(job.updated_at));
    cell(
      row,
      "",
      retryButton("Retry", `Retry job #${job.id} (${job.kind}, ${job.target})`, (button) => {
        button.disabled = true;
        api("POST", `/v1/jobs/${job.id}/retry`)
          .then(() => {
            row.remove();
            updateCount("dead");
            announce(`Job #${job.id} is queued again.`);
            refreshStatus();
          })
          .catch((error) => {
            button.disabled = false;
            failed(error);
          });
      }),
      "action",
    );
    return row;
  }

  function sendRow(message) {
    const row = el("tr");
    row.setAttribute("role", "row");
    cell(row, "Sent", when(message.sent_at));
    const kind = message.status === "not_sent" ? "not-sent" : "paused";
    cell(row, "Status", el("span", `status status-${kind}`, message.status_label));
    cell(row, "From", message.line_number, "nowrap");
    const to = el("span", "", masked(message.other_party));
    to.title = `Recipient ending ${String(message.other_party).slice(-4)}`;
    cell(row, "To", to, "nowrap");
    cell(
      row,
      "Message",
      message.text || (message.attachments.length ? `${message.attachments.length} file(s)` : ""),
      "message-text",
    );
    cell(row, "Error", message.send_error || "", "error-text");
    if (message.retryable) {
      cell(
        row,
        "",
        retryButton(
          "Retry send",
          `Retry send to ${masked(message.other_party)} (message #${message.id})`,
          (button) => {
            const again = `Send this message to ${masked(message.other_party)} again?`;
            const warning = message.status === "unknown" ? `${MAYBE_DELIVERED}\n\n${again}` : again;
            if (!window.confirm(warning)) {
              return;
            }
            button.disabled = true;
            api("POST", `/v1/messages/${message.id}/retry`)
              .then(() => {
                row.remove();
                updateCount("sends");
                announce(
                  `The message to ${masked(message.other_party)} is queued to be sent again.`,
                );
              })
              .catch((error) => {
                button.disabled = false;
                failed(error);
              });
          },
        ),
        "action",
      );
    } else {
      cell(row, "", "", "action");
    }
    return row;
  }

  // -- set-up checklist (the checks of `mms-connector doctor`, run on demand) ---------------

  const DOCTOR_WORDS = {
    pass: { word: "✓ Pass", kind: "delivered" },
    fail: { word: "✗ Fail", kind: "not-sent" },
    skip: { word: "– Off", kind: "off" },
  };

  function doctorItem(check) {
    const look = DOCTOR_WORDS[check.state] || { word: check.state, kind: "" };
    const item = stateItem(check.name, look.word, look.kind, check.detail);
    item.setAttribute("data-state", check.state);
    if (check.state === "fail" && check.fix) {
      item.appendChild(el("span", "target-reason doctor-fix", `Fix: ${check.fix}`));
    }
    return item;
  }

  function runDoctor() {
    const button = $("doctor-run");
    button.disabled = true;
    $("doctor-summary").textContent = "Checking… (this calls the CRMs and providers)";
    return api("GET", "/v1/doctor")
      .then((report) => {
        const list = $("doctor-checks");
        list.replaceChildren();
        report.checks.forEach((check) => {
          list.appendChild(doctorItem(check));
        });
        const failures = report.checks.filter((c) => c.state === "fail").length;
        $("doctor-summary").textContent = report.ok
          ? "All checks pass."
          : `${failures} check(s) fail.`;
        announce(`Set-up checklist: ${$("doctor-summary").textContent}`);
      })
      .catch((error) => {
        $("doctor-summary").textContent = "";
        failed(error);
      })
      .then(() => {
        button.disabled = false;
      });
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
    ])
      .then((answers) => {
        $("login").hidden = true;
        $("login-error").hidden = true;
        $("signed-in").hidden = false;
        $("panels").hidden = false;
        renderStatus(answers[0]);
        fill("dead", answers[1], deadRow);
        fill("sends", answers[2], sendRow);
        announce(`Updated ${new Date().toLocaleTimeString()}.`);
      })
      .catch(failed);
  }

  function start() {
    $("login").addEventListener("submit", (event) => {
      event.preventDefault();
      const value = $("token").value.trim();
      $("token").value = "";
      if (!value) {
        return;
      }
      sessionStorage.setItem(KEY, value);
      load();
    });
    $("refresh").addEventListener("click", load);
    $("doctor-run").addEventListener("click", runDoctor);
    $("sign-out").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      announce("");
      showLogin("");
    });
    $("retry-all").addEventListener("click", () => {
      const n = $("dead-rows").children.length;
      if (!window.confirm(`Retry all ${n} dead job(s) from their first attempt?`)) {
        return;
      }
      $("retry-all").disabled = true;
      api("POST", "/v1/jobs/retry-dead")
        .then((answer) => {
          $("dead-rows").replaceChildren();
          updateCount("dead");
          announce(`${answer.replayed} job(s) queued again.`);
          refreshStatus();
        })
        .catch((error) => {
          updateCount("dead");
          failed(error);
        });
    });
    if (token()) {
      load();
    } else {
      showLogin("");
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
