/* spotopt accounts pages: connection-method tabs, copy buttons and the live status panel.
   Plain JavaScript, no dependencies, nothing loaded from elsewhere (the product must work air-gapped).
   Every page works without it: the tabs are links (?method=keys), the copy buttons stay hidden and the
   status panel has a Refresh link. */
(function () {
  "use strict";

  var FIRST_POLL_MS = 2000;
  var MAX_POLL_MS = 10000;
  var BACKOFF = 1.5;

  function each(nodes, fn) {
    Array.prototype.forEach.call(nodes, fn);
  }

  // --- Tabs (WAI-ARIA tabs pattern; the server renders the right panel for ?method=) ----------------
  function initTabs(root) {
    var tabs = Array.prototype.slice.call(root.querySelectorAll('[role="tab"]'));
    function select(tab, focus) {
      tabs.forEach(function (other) {
        var selected = other === tab;
        other.setAttribute("aria-selected", selected ? "true" : "false");
        other.tabIndex = selected ? 0 : -1;
        var panel = document.getElementById(other.getAttribute("aria-controls"));
        if (panel) panel.hidden = !selected;
      });
      if (focus) tab.focus();
      var method = tab.getAttribute("data-method");
      if (method && window.history && window.history.replaceState) {
        var url = new URL(window.location.href);
        url.searchParams.set("method", method);
        window.history.replaceState(null, "", url.toString());
      }
    }
    tabs.forEach(function (tab, index) {
      tab.addEventListener("click", function (event) {
        event.preventDefault();
        select(tab, false);
      });
      tab.addEventListener("keydown", function (event) {
        var target = null;
        if (event.key === "ArrowRight") target = tabs[(index + 1) % tabs.length];
        else if (event.key === "ArrowLeft") target = tabs[(index - 1 + tabs.length) % tabs.length];
        else if (event.key === "Home") target = tabs[0];
        else if (event.key === "End") target = tabs[tabs.length - 1];
        else if (event.key === " ") target = tab;
        if (target) {
          event.preventDefault();
          select(target, true);
        }
      });
    });
  }

  // --- Copy buttons ---------------------------------------------------------------------------------
  function copyWithTextarea(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.top = "-1000px";
    document.body.appendChild(area);
    area.select();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (error) {
      copied = false;
    }
    document.body.removeChild(area);
    return copied ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return copyWithTextarea(text);
      });
    }
    return copyWithTextarea(text);
  }

  function fetchText(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (response) {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response.text();
    });
  }

  function copyFromUrl(url) {
    // A ClipboardItem holding a promise keeps the click's permission while the text downloads (Safari needs it).
    if (navigator.clipboard && navigator.clipboard.write && window.ClipboardItem && window.isSecureContext) {
      var blob = fetchText(url).then(function (text) {
        return new Blob([text], { type: "text/plain" });
      });
      return navigator.clipboard.write([new window.ClipboardItem({ "text/plain": blob })]).catch(function () {
        return fetchText(url).then(copyText);
      });
    }
    return fetchText(url).then(copyText);
  }

  function initCopyButton(button) {
    var label = button.textContent;
    var timer = null;
    function say(text) {
      button.textContent = text;
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        button.textContent = label;
      }, 2500);
    }
    button.hidden = false;
    button.setAttribute("aria-live", "polite");
    button.addEventListener("click", function () {
      var targetId = button.getAttribute("data-copy-target");
      var copying = targetId
        ? copyText(document.getElementById(targetId).textContent.trim())
        : copyFromUrl(button.getAttribute("data-copy-url"));
      copying.then(
        function () {
          say("Copied");
        },
        function () {
          say(targetId ? "Copy failed: select the text instead" : "Copy failed: download it instead");
        }
      );
    });
  }

  // --- Live status panel ----------------------------------------------------------------------------
  function initStatusPanel(panel) {
    var guideNode = document.getElementById(panel.getAttribute("data-guide"));
    if (!guideNode || panel.getAttribute("data-poll") !== "true") return;
    var guide = JSON.parse(guideNode.textContent);
    var url = panel.getAttribute("data-progress-url");
    // After "Re-run discovery": the start time of the run before it; a newer run is the one to follow.
    var awaitingRun = panel.getAttribute("data-awaiting-run") === "true";
    var queuedAfter = panel.getAttribute("data-queued-after") || null;
    var note = panel.querySelector("[data-live-note]");
    var delay = FIRST_POLL_MS;
    var lastSeen = null;

    function setNote(text) {
      note.textContent = text;
      note.hidden = !text;
    }

    function discoveryState(progress) {
      var state = progress.discovery.state;
      if (state === "not_started" && progress.status === "connected") return "queued";
      if (awaitingRun && (progress.discovery.started_at || null) === queuedAfter && state !== "running") return "queued";
      return state;
    }

    function render(progress) {
      var info = guide.statuses[progress.status];
      if (!info) return;
      panel.setAttribute("data-status", progress.status);
      each(document.querySelectorAll("[data-status-badge]"), function (badge) {
        badge.textContent = info.label;
        badge.className = badge.className.replace(/\bbadge--(ok|info|warn|error)\b/, "badge--" + info.tone);
      });
      panel.querySelector("[data-status-summary]").textContent = info.summary;
      each(document.querySelectorAll("[data-show-for]"), function (node) {
        node.hidden = node.getAttribute("data-show-for").split(" ").indexOf(progress.status) === -1;
      });

      var discovery = progress.discovery;
      var state = discoveryState(progress);
      var bar = panel.querySelector("[data-progress]");
      bar.max = discovery.regions_total || 1;
      bar.value = discovery.regions_done;
      bar.textContent = discovery.percent + "%";
      panel.querySelector("[data-discovery-state]").textContent = guide.discovery_states[state] || state;
      panel.querySelector("[data-regions-done]").textContent = discovery.regions_done;
      if (discovery.regions_total) panel.querySelector("[data-regions-total]").textContent = discovery.regions_total;
      panel.querySelector("[data-instances-found]").textContent = discovery.instances_found;
      var lastError = (progress.last_error && progress.last_error.message) || "";
      each(panel.querySelectorAll("[data-region]"), function (row) {
        var region = row.getAttribute("data-region");
        var cell = row.querySelector("[data-region-result]");
        var error = discovery.errors && discovery.errors[region];
        var count = discovery.regions ? discovery.regions[region] : undefined;
        cell.classList.remove("muted", "num", "region-results__error");
        if (error && state !== "queued") {
          // Said once: in the last error when it holds this region's error, else here.
          cell.textContent = lastError.indexOf(error) === -1 ? error : guide.region_failed;
          cell.classList.add("region-results__error");
        } else if (count !== undefined && state !== "queued") {
          cell.textContent = count;
          cell.classList.add("num");
        } else {
          cell.textContent = state === "running" ? guide.region_waiting : guide.region_not_scanned;
          cell.classList.add("num", "muted");
        }
      });

      var errorBox = panel.querySelector("[data-last-error]");
      if (progress.last_error && progress.last_error.message) {
        errorBox.querySelector("[data-last-error-message]").textContent = progress.last_error.message;
        errorBox.classList.toggle("alert--error", progress.status === "failed");
        errorBox.classList.toggle("alert--warning", progress.status !== "failed");
        errorBox.hidden = false;
      } else {
        errorBox.hidden = true;
      }
    }

    function finished(progress) {
      if (!progress.is_final || progress.discovery.state === "running") return false;
      // After "Re-run discovery" the account is already final: wait for the new run to start and end.
      return !(awaitingRun && (progress.discovery.started_at || null) === queuedAfter);
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" })
        .then(function (response) {
          if (response.status === 401 || response.status === 403 || response.status === 404) {
            setNote("Live updates stopped (are you still signed in?). Refresh the page.");
            return null;
          }
          if (!response.ok) throw new Error("HTTP " + response.status);
          return response.json();
        })
        .then(function (progress) {
          if (!progress) return;
          var seen = JSON.stringify(progress);
          if (seen !== lastSeen) {
            lastSeen = seen;
            render(progress);
            delay = FIRST_POLL_MS;
          } else {
            delay = Math.min(delay * BACKOFF, MAX_POLL_MS);
          }
          if (finished(progress)) {
            setNote("");
            panel.setAttribute("data-poll", "false");
            return;
          }
          setNote("Updates automatically.");
          window.setTimeout(poll, delay);
        })
        .catch(function () {
          delay = Math.min(delay * 2, MAX_POLL_MS);
          setNote("Could not reach spotopt to update the status; trying again…");
          window.setTimeout(poll, delay);
        });
    }

    setNote("Updates automatically.");
    window.setTimeout(poll, delay);
  }

  function init() {
    each(document.querySelectorAll("[data-tabs]"), initTabs);
    each(document.querySelectorAll("[data-copy-target], [data-copy-url]"), initCopyButton);
    each(document.querySelectorAll("[data-progress-url]"), initStatusPanel);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
