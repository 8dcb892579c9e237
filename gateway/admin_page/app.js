// The admin page: routes, recent rejections with their fix, shadow disagreements, diagnose and explain.
// Everything shown comes from the admin API (/api/...) and is put in the page as text (textContent),
// never as HTML: origins and paths are chosen by whoever sent the requests.
"use strict";

const TOKEN_KEY = "cors-gateway-admin-token";

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(path, Object.assign({}, options, {headers, cache: "no-store"}));
  if (response.status === 401) {
    document.getElementById("token-form").hidden = false;
    setStatus(token() ? "the token was refused: enter it again" : "this gateway needs its admin token");
    throw new Error("unauthorized");
  }
  const body = await response.json();
  if (!response.ok && !body.error) throw new Error(`${path}: ${response.status}`);
  return body;
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  if (className) td.className = className;
  row.appendChild(td);
  return td;
}

function fill(tableId, rows, columns, emptyText) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren();
  if (!rows.length) {
    const row = body.insertRow();
    const td = cell(row, emptyText, "empty");
    td.colSpan = columns;
    return;
  }
  for (const build of rows) {
    const row = body.insertRow();
    build(row);
  }
}

function list(value) {
  if (value === null || value === undefined) return "*";
  return value.length ? value.join(", ") : "(none)";
}

function when(seconds) {
  return new Date(seconds * 1000).toISOString().replace("T", " ").slice(0, 19) + "Z";
}

function fixText(fixes) {
  return fixes.length ? fixes.map((f) => `${f.key}: ${f.change}`).join("; ") : "(none: not a browser's request)";
}

async function loadRoutes() {
  const data = await api("api/routes");
  fill("routes", data.routes.map((r) => (row) => {
    cell(row, r.index === null ? "-" : r.index);
    cell(row, r.name);
    cell(row, r.path !== null ? r.path : `re: ${r.path_regex}`);
    cell(row, list(r.origins));
    cell(row, list(r.methods));
    cell(row, list(r.allow_headers));
    cell(row, r.supports_credentials ? "yes" : "no");
    cell(row, r.mode);
    cell(row, r.on_reject);
    cell(row, r.csrf);
  }), 10, "no routes");
}

async function loadRejections() {
  const data = await api("api/rejections?limit=50");
  document.getElementById("rejections-note").textContent =
    `the last ${data.capacity} of this gateway (${data.kept} kept${data.workers ? `, from ${data.workers} workers` : ""})`;
  fill("groups", data.groups.map((g) => (row) => {
    cell(row, g.count);
    cell(row, g.route);
    cell(row, g.origin);
    cell(row, g.reason, "reason");
    cell(row, `${g.last.method} ${g.last.path} at ${when(g.last.time)}`);
    cell(row, g.note || fixText(g.fixes), "fix");
  }), 6, "no rejections");
  fill("recent", data.records.slice(0, 50).map((r) => (row) => {
    cell(row, when(r.time));
    cell(row, r.route);
    cell(row, r.method);
    cell(row, r.path);
    cell(row, r.origin);
    cell(row, r.reason, "reason");
    cell(row, r.detail);
  }), 7, "no rejections");
  fill("shadow-groups", data.shadow.groups.map((g) => (row) => {
    cell(row, g.count);
    cell(row, g.route);
    cell(row, g.origin);
    cell(row, g.reason, "reason");
    cell(row, `${g.last.method} ${g.last.path} at ${when(g.last.time)}`);
    cell(row, g.last.detail);
  }), 6, "no disagreements");
}

async function refresh() {
  try {
    await loadRoutes();
    await loadRejections();
    document.getElementById("token-form").hidden = true;
    setStatus(`updated ${new Date().toLocaleTimeString()}`);
  } catch (error) {
    if (error.message !== "unauthorized") setStatus(`error: ${error.message}`);
  }
}

function show(id, lines) {
  document.getElementById(id).textContent = lines.join("\n");
}

async function diagnose(event) {
  event.preventDefault();
  const body = {
    message: document.getElementById("diagnose-message").value,
    url: document.getElementById("diagnose-url").value || null,
    origin: document.getElementById("diagnose-origin").value || null,
  };
  try {
    const d = await api("api/diagnose", {method: "POST", headers: {"Content-Type": "application/json"},
                                         body: JSON.stringify(body)});
    if (d.error) return show("diagnose-result", [d.error]);
    const lines = [`browser: ${d.browser}`, `browser did: ${d.browser_did}`, `route: ${d.route || "(none)"}`,
                   `gateway decision: ${d.decision || "-"}`, `reason: ${d.reason || "unknown"}`];
    if (d.cause) lines.push(`cause: ${d.cause}`);
    for (const fix of d.fixes) lines.push(`fix: ${fix.key}: ${fix.change}`);
    for (const item of d.possible) lines.push(`possible: ${item}`);
    show("diagnose-result", lines);
  } catch (error) {
    if (error.message !== "unauthorized") show("diagnose-result", [`error: ${error.message}`]);
  }
}

async function explain(event) {
  event.preventDefault();
  const query = new URLSearchParams({
    origin: document.getElementById("explain-origin").value,
    path: document.getElementById("explain-path").value,
    method: document.getElementById("explain-method").value || "GET",
    headers: document.getElementById("explain-headers").value,
  });
  if (document.getElementById("explain-credentials").checked) query.set("credentials", "1");
  try {
    const e = await api("api/explain?" + query.toString());
    if (e.error) return show("explain-result", [e.error]);
    show("explain-result", [...e.lines, ...e.fixes.map((f) => `fix: ${f.key}: ${f.change}`)]);
  } catch (error) {
    if (error.message !== "unauthorized") show("explain-result", [`error: ${error.message}`]);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, document.getElementById("token").value.trim());
    document.getElementById("token").value = "";
    refresh();
  });
  document.getElementById("refresh").addEventListener("click", refresh);
  document.getElementById("diagnose-form").addEventListener("submit", diagnose);
  document.getElementById("explain-form").addEventListener("submit", explain);
  refresh();
  setInterval(refresh, 5000);
});
