// The conversation page: a viewer that steps through a message's media (buttons, arrow keys,
// Escape), local times, and "Download all" with progress and the time remaining.
"use strict";

(() => {
  const dataNode = document.getElementById("conversation-data");
  if (!dataNode) return;
  const media = JSON.parse(dataNode.textContent);
  const el = (id) => document.getElementById(id);

  // -- times in the reader's own time zone -------------------------------------------------------

  for (const time of document.querySelectorAll("time[datetime]")) {
    const moment = new Date(time.getAttribute("datetime"));
    if (!Number.isNaN(moment.getTime())) {
      time.textContent = moment.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
      time.title = time.getAttribute("datetime");
    }
  }

  // -- viewer ----------------------------------------------------------------------------------

  const viewer = el("viewer");
  const image = el("viewer-image");
  const fileTile = el("viewer-file");
  const caption = el("viewer-caption");
  const count = el("viewer-count");
  const text = el("viewer-text");
  const previous = el("viewer-prev");
  const next = el("viewer-next");
  const download = el("viewer-download");
  let items = [];
  let position = 0;
  let opener = null;

  function show(index) {
    position = Math.max(0, Math.min(items.length - 1, index));
    const item = items[position];
    if (item.image) {
      image.src = item.url;
      image.alt = item.name;
      image.hidden = false;
      fileTile.hidden = true;
    } else {
      image.hidden = true;
      image.removeAttribute("src");
      el("viewer-file-kind").textContent = (item.type.split("/").pop() || "file").toUpperCase();
      el("viewer-file-name").textContent = item.name;
      fileTile.hidden = false;
    }
    caption.textContent = item.name + (item.size ? ` · ${item.size}` : "");
    count.textContent = `${position + 1} / ${items.length}`;
    previous.disabled = position === 0;
    next.disabled = position === items.length - 1;
    download.href = item.url;
    download.setAttribute("download", item.name);
  }

  function open(messageId, index, from) {
    const entry = media[messageId];
    if (!entry?.items.length) return;
    items = entry.items;
    text.textContent = entry.text;
    text.hidden = !entry.text;
    opener = from;
    show(index);
    viewer.showModal();
    (next.disabled ? el("viewer-close") : next).focus();
  }

  document.addEventListener("click", (event) => {
    const trigger = event.target.closest(".preview, .more");
    if (!trigger) return;
    const message = trigger.closest(".message");
    open(message.dataset.message, Number(trigger.dataset.index), trigger);
  });
  previous.addEventListener("click", () => show(position - 1));
  next.addEventListener("click", () => show(position + 1));
  el("viewer-close").addEventListener("click", () => viewer.close());
  viewer.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") {
      event.preventDefault();
      show(position - 1);
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      show(position + 1);
    }
  });
  viewer.addEventListener("click", (event) => {
    if (event.target === viewer) viewer.close(); // a click on the backdrop
  });
  viewer.addEventListener("close", () => {
    image.removeAttribute("src");
    if (opener) opener.focus();
  });

  // -- Download all ----------------------------------------------------------------------------

  const button = el("download-all");
  if (!button) return;
  const progress = el("download-progress");
  const bar = el("download-bar");
  const status = el("download-text");

  const MB = 1024 * 1024;
  function humanSize(bytes) {
    if (bytes < 1024) return `${bytes} bytes`;
    if (bytes < MB) return `${Math.round(bytes / 1024)} KB`;
    return `${(bytes / MB).toFixed(1).replace(/\.0$/, "")} MB`;
  }

  function humanDuration(seconds) {
    if (seconds < 1) return "less than a second";
    if (seconds < 60) return `${Math.ceil(seconds)} s`;
    const minutes = Math.floor(seconds / 60);
    return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
  }

  function say(message, kind) {
    status.textContent = message;
    status.classList.toggle("done", kind === "done");
    status.classList.toggle("error", kind === "error");
  }

  function filenameOf(response) {
    const header = response.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(header);
    return match ? match[1] : "conversation-media.zip";
  }

  async function downloadAll() {
    button.disabled = true;
    progress.hidden = false;
    bar.value = 0;
    say("Preparing the download…");
    try {
      const response = await fetch(button.dataset.url, {
        cache: "no-store",
        credentials: "same-origin",
      });
      if (!response.ok) {
        say((await response.text()) || "The download failed.", "error");
        return;
      }
      const declared = Number(response.headers.get("Content-Length"));
      const exact = Number.isFinite(declared) && declared > 0;
      // Without a length, the media's own sizes are a close estimate of the archive's.
      const total = exact ? declared : Number(button.dataset.estimate) || 0;
      const reader = response.body.getReader();
      const chunks = [];
      const started = performance.now();
      let received = 0;
      let shown = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        chunks.push(value);
        received += value.length;
        const now = performance.now();
        if (now - shown > 100) {
          shown = now;
          report(received, total, exact, (now - started) / 1000);
        }
      }
      bar.max = 1;
      bar.value = 1;
      const name = filenameOf(response);
      save(new Blob(chunks, { type: "application/zip" }), name);
      say(
        `Download complete: ${name} (${humanSize(received)}) is in your downloads folder.`,
        "done",
      );
    } catch {
      say("The download was interrupted. Please try again.", "error");
    } finally {
      button.disabled = false;
    }
  }

  function report(received, total, exact, elapsed) {
    const rate = elapsed > 0 ? received / elapsed : 0;
    if (total > 0) {
      bar.max = total;
      bar.value = Math.min(received, total);
    } else {
      bar.removeAttribute("value"); // indeterminate
    }
    let message =
      humanSize(received) + (total > 0 ? ` of ${exact ? "" : "about "}${humanSize(total)}` : "");
    if (total > received && rate > 0) {
      message += ` · ${humanDuration((total - received) / rate)} left`;
    }
    say(message);
  }

  function save(blob, name) {
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = name;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  button.addEventListener("click", downloadAll);
})();
