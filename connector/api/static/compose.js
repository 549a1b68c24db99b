// The composer embedded in a CRM record. Every verdict and every refusal text comes from the
// connector (upload verdicts, /compose/api/validate, the send); this script only arranges them,
// keeps the draft for the browser session, and follows the sent message's status.
"use strict";

(() => {
  const root = document.getElementById("composer");
  if (!root) return;
  const token = root.dataset.token;
  const state = JSON.parse(document.getElementById("compose-state").textContent);
  const texts = state.texts;
  const draftKey = `mms-composer:draft:${state.draftKey}`;
  const sentKey = `mms-composer:sent:${state.draftKey}`;
  const UPLOADS_AT_ONCE = 3;
  const POLL_MS = 1000;

  const el = (id) => document.getElementById(id);
  const lineList = el("line-list");
  const lineReason = el("line-reason");
  const dropzone = el("dropzone");
  const attachButton = el("attach");
  const fileInput = el("file-input");
  const thumbs = el("thumbs");
  const refusalList = el("refusals");
  const usage = el("usage");
  const usageBar = el("usage-bar");
  const filesCount = el("files-count");
  const dropHint = el("drop-hint");
  const textArea = el("text");
  const sendButton = el("send");
  const sendNote = el("send-note");
  const sentSection = el("sent");
  const sentList = el("sent-list");

  const lines = state.lines;
  let line = null;
  let files = []; // {key, name, size, type, state: "uploading"|"ready", ref, thumb, preview}
  let messageErrors = []; // refusals of the draft as a whole (no file index)
  let sending = false;
  let expired = false;
  let validation = 0; // the latest validation asked for; older answers are ignored
  let nextKey = 1;
  const queue = [];
  let uploading = 0;

  // -- helpers ---------------------------------------------------------------------------------

  const MB = 1024 * 1024;
  function humanSize(bytes) {
    if (bytes < 1024) return `${bytes} bytes`;
    if (bytes < MB) return `${Math.round(bytes / 1024)} KB`;
    return `${(bytes / MB).toFixed(1).replace(/\.0$/, "")} MB`;
  }

  function svg(path) {
    return `<svg viewBox="0 0 24 24" aria-hidden="true" focusable="false"><path d="${path}"/></svg>`;
  }
  function icon(path) {
    const holder = document.createElement("span");
    holder.innerHTML = svg(path);
    return holder.firstChild;
  }
  const CROSS =
    "m6.4 5 5.6 5.6L17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6l5.6-5.6L5 6.4 6.4 5Z";
  const ALERT = "M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20Zm1 15h-2v-2h2v2Zm0-4h-2V7h2v6Z";

  function node(tag, className, text) {
    const made = document.createElement(tag);
    if (className) made.className = className;
    if (text !== undefined) made.textContent = text;
    return made;
  }

  async function api(path, options) {
    const init = Object.assign({ cache: "no-store", credentials: "same-origin" }, options || {});
    init.headers = Object.assign({ "X-Compose-Token": token }, init.headers || {});
    const response = await fetch(path, init);
    if (response.status === 401) {
      let detail = "";
      try {
        detail = (await response.json()).detail;
      } catch {
        /* not JSON */
      }
      linkExpired(detail);
      throw new Error("expired");
    }
    return response;
  }

  function linkExpired(detail) {
    expired = true;
    sendNote.textContent =
      detail || "This composer link has expired. Open the composer again from the CRM record.";
    sendNote.classList.add("error");
    render();
  }

  // -- the draft, kept for the browser session -------------------------------------------------

  function saveDraft() {
    const ready = files.filter((f) => f.state === "ready");
    const draft = {
      line: line ? line.number : null,
      text: textArea.value,
      files: ready.map((f) => ({
        ref: f.ref,
        name: f.name,
        size: f.size,
        type: f.type,
        thumb: f.thumb,
      })),
    };
    try {
      sessionStorage.setItem(draftKey, JSON.stringify(draft));
    } catch {
      /* storage off */
    }
  }

  function dropDraft() {
    try {
      sessionStorage.removeItem(draftKey);
    } catch {
      /* storage off */
    }
  }

  function loadDraft() {
    try {
      return JSON.parse(sessionStorage.getItem(draftKey) || "null");
    } catch {
      return null;
    }
  }

  // -- lines -------------------------------------------------------------------------------------

  function chooseLine(number, { revalidate = true } = {}) {
    line = lines.find((l) => l.number === number) || null;
    for (const input of lineList.querySelectorAll("input[name=line]")) {
      input.checked = line !== null && input.value === line.number;
    }
    messageErrors = [];
    if (line) fileInput.accept = line.accept;
    render();
    saveDraft();
    if (revalidate) scheduleValidation();
  }

  function defaultLine(saved) {
    if (saved && lines.some((l) => l.number === saved)) return saved;
    const best = lines.find((l) => l.canAttach) || lines.find((l) => l.canSend) || lines[0];
    return best ? best.number : null;
  }

  // -- rendering -----------------------------------------------------------------------------

  function render() {
    const canAttach = !!line && line.canAttach && !expired;
    const reasons = line ? line.attachReasons : [];
    lineReason.hidden = reasons.length === 0;
    lineReason.textContent = reasons.join(" ");
    attachButton.disabled = !canAttach;
    fileInput.disabled = !canAttach;
    dropzone.classList.toggle("disabled", !canAttach);
    dropHint.hidden = !canAttach;

    const used = files.reduce((sum, f) => sum + f.size, 0);
    const max = line ? line.maxTotalBytes : 0;
    usage.textContent = `${humanSize(used)} / ${line ? line.maxTotalLabel : "–"}`;
    usageBar.max = max || 1;
    usageBar.value = Math.min(used, max || 1);
    filesCount.textContent = `${files.length} / ${line ? line.maxFiles : "–"} files`;

    renderThumbs();
    renderSendState();
  }

  function renderThumbs() {
    const present = new Map([...thumbs.children].map((li) => [li.dataset.key, li]));
    const wanted = new Set(files.map((f) => String(f.key)));
    for (const [key, li] of present) if (!wanted.has(key)) li.remove();
    files.forEach((file, position) => {
      let li = present.get(String(file.key));
      if (!li) {
        li = node("li", "thumb");
        li.dataset.key = String(file.key);
        li.title = `${file.name} (${humanSize(file.size)})`;
        const source = file.thumb || file.preview;
        const image = source && (file.type || "").startsWith("image/");
        if (image) {
          const img = node("img");
          img.alt = file.name;
          img.src = source;
          li.append(img);
        } else {
          const tile = node("span", "file-tile");
          tile.append(
            node("span", "file-kind", extension(file.name)),
            node("span", "file-name", file.name),
          );
          li.append(tile);
        }
        li.append(node("span", "thumb-name", file.name));
        const remove = node("button", "icon-btn remove");
        remove.type = "button";
        remove.setAttribute("aria-label", `Remove ${file.name}`);
        remove.append(icon(CROSS));
        remove.addEventListener("click", () => removeFile(file.key, position));
        li.append(remove);
      }
      li.classList.toggle("uploading", file.state !== "ready");
      li.setAttribute("aria-busy", file.state !== "ready" ? "true" : "false");
      thumbs.append(li); // keeps the order of `files`
    });
  }

  function extension(name) {
    const dot = name.lastIndexOf(".");
    return dot > 0
      ? name
          .slice(dot + 1)
          .toUpperCase()
          .slice(0, 5)
      : "FILE";
  }

  function renderSendState() {
    const busy = files.some((f) => f.state !== "ready") || sending;
    const hasContent = textArea.value.trim() !== "" || files.length > 0;
    // Why Send is greyed out; a reason the line's notice already shows is not repeated.
    let blocked = false;
    let reason = "";
    if (!line) {
      blocked = true;
      reason = lines.length ? "Choose the line to send from." : "";
    } else if (!line.canSend) {
      blocked = true;
    } else if (files.length && !line.canAttach) {
      blocked = true;
    } else if (messageErrors.length) {
      blocked = true;
      reason = messageErrors.map((e) => e.message).join(" ");
    }
    sendButton.disabled = expired || busy || !hasContent || blocked;
    if (expired) return;
    if (sending) {
      setNote("Sending…", false);
    } else if (reason) {
      setNote(reason, true);
    } else if (busy) {
      setNote("Uploading attachments…", false);
    } else if (!sendNote.dataset.sticky) {
      setNote("", false);
    }
  }

  function setNote(text, isError) {
    sendNote.textContent = text;
    sendNote.classList.toggle("error", !!isError);
  }

  function refuse(name, message) {
    const li = node("li", "refusal");
    li.setAttribute("role", "alert");
    const body = node("span", "refusal-body");
    if (name) body.append(node("span", "refusal-file", name));
    body.append(node("span", "refusal-text", message));
    const dismiss = node("button", "icon-btn");
    dismiss.type = "button";
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.append(icon(CROSS));
    dismiss.addEventListener("click", () => li.remove());
    li.append(icon(ALERT), body, dismiss);
    refusalList.append(li);
  }

  // -- attaching -------------------------------------------------------------------------------

  function addFiles(list) {
    if (!line?.canAttach || expired) return;
    refusalList.replaceChildren();
    sendNote.dataset.sticky = "";
    for (const file of list) {
      const item = {
        key: nextKey++,
        name: file.name,
        size: file.size,
        type: file.type,
        state: "uploading",
        ref: null,
        thumb: null,
        preview: file.type.startsWith("image/") ? URL.createObjectURL(file) : null,
      };
      files.push(item);
      queue.push([item, file, line]);
    }
    render();
    pump();
  }

  function pump() {
    while (uploading < UPLOADS_AT_ONCE && queue.length) {
      const [item, file, forLine] = queue.shift();
      uploading += 1;
      upload(item, file, forLine).finally(() => {
        uploading -= 1;
        pump();
        if (!uploading && !queue.length) scheduleValidation();
      });
    }
  }

  async function upload(item, file, forLine) {
    try {
      // Larger than any file this line takes: the rules judge it by its size and first bytes,
      // without carrying the whole file over.
      const verdict =
        file.size > forLine.largestFileBytes
          ? await probe(file, forLine)
          : await send(file, forLine);
      if (!files.includes(item)) return; // removed meanwhile
      if (verdict.ok) {
        Object.assign(item, {
          state: "ready",
          ref: verdict.ref,
          thumb: verdict.thumb,
          type: verdict.type || item.type,
        });
      } else {
        discard(item);
        const errors = verdict.errors?.length ? verdict.errors : [{ message: texts.unknown }];
        for (const error of errors) refuse(item.name, error.message);
      }
    } catch {
      if (expired) return;
      discard(item);
      refuse(item.name, texts.unknown);
    }
    render();
    saveDraft();
  }

  async function send(file, forLine) {
    const body = new FormData();
    body.append("file", file, file.name);
    const response = await api(`/compose/api/uploads?from=${encodeURIComponent(forLine.number)}`, {
      method: "POST",
      body,
    });
    const answer = await response.json();
    if (response.status === 201) {
      const result = answer.files[0];
      return {
        ok: result.ok,
        ref: result.ref,
        thumb: result.thumb,
        type: result.type,
        errors: result.errors,
      };
    }
    if (answer && Array.isArray(answer.errors)) return { ok: false, errors: answer.errors };
    throw new Error(`upload failed: ${response.status}`);
  }

  async function probe(file, forLine) {
    const head = new Uint8Array(await file.slice(0, 8192).arrayBuffer());
    let binary = "";
    for (const byte of head) binary += String.fromCharCode(byte);
    const response = await api("/compose/api/uploads/probe", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        from: forLine.number,
        name: file.name,
        size: file.size,
        head: btoa(binary),
      }),
    });
    if (!response.ok) throw new Error(`probe failed: ${response.status}`);
    const answer = await response.json();
    if (answer.ok) return send(file, forLine);
    return { ok: false, errors: answer.errors };
  }

  function discard(item) {
    files = files.filter((f) => f !== item);
    if (item.preview) URL.revokeObjectURL(item.preview);
  }

  function removeFile(key) {
    const item = files.find((f) => f.key === key);
    if (!item) return;
    discard(item);
    messageErrors = [];
    render();
    saveDraft();
    scheduleValidation();
    (thumbs.querySelector("button.remove") || attachButton).focus();
  }

  // -- validation: the rule engine's verdict on the whole draft ----------------------------------

  let validationTimer = null;
  function scheduleValidation() {
    clearTimeout(validationTimer);
    validationTimer = setTimeout(validate, 120);
  }

  async function validate() {
    if (!line || expired || files.some((f) => f.state !== "ready")) return;
    const asked = ++validation;
    const ready = files.slice();
    let answer;
    try {
      const response = await api("/compose/api/validate", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(draftBody(ready)),
      });
      if (!response.ok) return;
      answer = await response.json();
    } catch {
      return;
    }
    if (asked !== validation) return;
    applyRefusals(answer.errors, ready);
  }

  // Refusals with an index remove that file (and show its text); the others are the draft's.
  function applyRefusals(errors, sentFiles) {
    const refusedFiles = new Map();
    messageErrors = [];
    for (const error of errors) {
      if (error.code === "message_empty") continue; // Send is simply disabled while empty
      if (error.index === null || error.index === undefined) messageErrors.push(error);
      else if (!refusedFiles.has(error.index)) refusedFiles.set(error.index, error);
    }
    // An MMS the line cannot carry greys the files out instead of removing them.
    const lineLevel = messageErrors.length > 0 && line && !line.canAttach;
    for (const [index, error] of refusedFiles) {
      const item = sentFiles[index];
      if (!item || lineLevel) continue;
      discard(item);
      refuse(item.name, error.message);
    }
    render();
    saveDraft();
  }

  function draftBody(list) {
    return {
      from: line.number,
      text: textArea.value,
      media: list.filter((f) => f.state === "ready").map((f) => f.ref),
    };
  }

  // -- sending and following the status ---------------------------------------------------------

  async function submit() {
    if (sendButton.disabled) return;
    sending = true;
    sendNote.dataset.sticky = "";
    refusalList.replaceChildren();
    render();
    const sentFiles = files.slice();
    const body = draftBody(sentFiles);
    let response;
    try {
      response = await api("/compose/api/messages", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch {
      sending = false;
      if (!expired) {
        render();
        setNote(texts.unknown, true);
        sendNote.dataset.sticky = "1";
      }
      return;
    }
    sending = false;
    if (response.status === 202) {
      const answer = await response.json();
      remember({
        id: answer.message_id,
        text: body.text,
        files: body.media.length,
        status: answer.status,
        label: answer.label,
        final: answer.final,
      });
      for (const item of files) if (item.preview) URL.revokeObjectURL(item.preview);
      files = [];
      textArea.value = "";
      messageErrors = [];
      dropDraft();
      render();
      setNote("", false);
      follow();
      return;
    }
    let errors = [];
    try {
      errors = (await response.json()).errors || [];
    } catch {
      /* not JSON */
    }
    if (!errors.length) errors = [{ code: "unknown_error", message: texts.unknown, index: null }];
    applyRefusals(errors, sentFiles);
    if (messageErrors.length) {
      setNote(messageErrors.map((e) => e.message).join(" "), true);
      sendNote.dataset.sticky = "1";
    }
  }

  // A browser that refuses storage to a framed page (third-party storage blocked, as a CRM's
  // iframe modal is) still shows this session's sends: they are kept in memory too.
  let sentInMemory = [];

  function sentMessages() {
    try {
      const stored = sessionStorage.getItem(sentKey);
      if (stored !== null) return JSON.parse(stored);
    } catch {
      /* storage off */
    }
    return sentInMemory.slice();
  }

  function storeSent(list) {
    sentInMemory = list.slice(-20);
    try {
      sessionStorage.setItem(sentKey, JSON.stringify(sentInMemory));
    } catch {
      /* off */
    }
  }

  function remember(message) {
    const list = sentMessages().filter((m) => m.id !== message.id);
    list.push(message);
    storeSent(list);
    renderSent();
  }

  function renderSent() {
    const list = sentMessages();
    sentSection.hidden = list.length === 0;
    sentList.replaceChildren(
      ...list
        .slice()
        .reverse()
        .map((message) => {
          const li = node("li", "sent-item");
          li.dataset.message = String(message.id);
          const body = node("div", "sent-body");
          body.append(node("p", "sent-text", message.text || "(no text)"));
          if (message.files) {
            body.append(
              node(
                "p",
                "sent-files",
                message.files + (message.files === 1 ? " attachment" : " attachments"),
              ),
            );
          }
          if (message.error) body.append(node("p", "sent-error", message.error));
          const badge = node(
            "span",
            `status status-${message.status.replace("_", "-")}`,
            message.label,
          );
          badge.setAttribute("role", "status");
          li.append(body, badge);
          return li;
        }),
    );
  }

  let following = false;
  async function follow() {
    if (following) return;
    following = true;
    try {
      for (;;) {
        const open = sentMessages().filter((m) => !m.final);
        if (!open.length || expired) return;
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
        for (const message of open) {
          let answer;
          try {
            const response = await api(`/compose/api/messages/${message.id}`);
            if (response.status === 404) {
              answer = Object.assign({}, message, { final: true });
            } else if (!response.ok) {
              continue;
            } else {
              answer = await response.json();
            }
          } catch {
            if (expired) return;
            continue;
          }
          const list = sentMessages().map((m) =>
            m.id === message.id
              ? Object.assign(m, {
                  status: answer.status,
                  label: answer.label,
                  final: answer.final,
                  error: answer.error || null,
                })
              : m,
          );
          storeSent(list);
          renderSent();
        }
      }
    } finally {
      following = false;
    }
  }

  // -- wiring ----------------------------------------------------------------------------------

  lineList.addEventListener("change", (event) => {
    if (event.target.name === "line") chooseLine(event.target.value);
  });
  attachButton.addEventListener("click", () => fileInput.click());
  fileInput.addEventListener("change", () => {
    addFiles([...fileInput.files]);
    fileInput.value = "";
  });
  let draftTimer = null;
  textArea.addEventListener("input", () => {
    renderSendState();
    clearTimeout(draftTimer);
    draftTimer = setTimeout(saveDraft, 150);
  });
  textArea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
    }
  });
  sendButton.addEventListener("click", submit);
  window.addEventListener("pagehide", saveDraft);

  let dragDepth = 0;
  document.addEventListener("dragenter", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth += 1;
    dropzone.classList.toggle("dragging", !!line && line.canAttach);
  });
  document.addEventListener("dragleave", () => {
    dragDepth = Math.max(0, dragDepth - 1);
    if (!dragDepth) dropzone.classList.remove("dragging");
  });
  document.addEventListener("dragover", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = line?.canAttach ? "copy" : "none";
  });
  document.addEventListener("drop", (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    dragDepth = 0;
    dropzone.classList.remove("dragging");
    addFiles([...event.dataTransfer.files]);
  });
  function hasFiles(event) {
    return !!event.dataTransfer && [...event.dataTransfer.types].includes("Files");
  }

  // -- start: restore the session's draft and the statuses of what was sent ----------------------

  const draft = loadDraft();
  if (draft) {
    textArea.value = draft.text || "";
    files = (draft.files || []).map((f) =>
      Object.assign({ key: nextKey++, state: "ready", preview: null }, f),
    );
  }
  chooseLine(defaultLine(draft?.line), { revalidate: files.length > 0 });
  renderSent();
  follow();
})();
