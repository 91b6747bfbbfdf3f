// The lethe console: one page, no build step, no library. It signs in with
// POST /sessions and then calls the API as that person, so it shows and does
// exactly what their role allows; every rule stays on the server. Text from
// the server is only ever put into the page as text (h() below), never as
// markup.
"use strict";

const state = { token: sessionStorage.getItem("lethe.token"), me: null, progress: null, revealed: new Map() };
const OPEN_STATUSES = ["awaiting_confirmation", "pending"];

// --- small helpers -------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// Each render has a number, which its view hands to show(): a view shows
// only while its render is the newest, so a slow one that finishes after a
// newer one started (a live reload racing a click) shows nothing.
let rendering = 0;
function show(mine, ...nodes) {
  if (mine !== rendering) return;
  document.getElementById("main").replaceChildren(...nodes);
}

function flash(text, kind) {
  const f = document.getElementById("flash");
  f.textContent = text;
  f.className = kind || "done";
  f.hidden = !text;
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : "HTTP " + status);
    this.status = status;
    this.field = body ? body.field : "";
  }
}

async function api(method, path, body, headers) {
  const h2 = Object.assign({ Accept: "application/json" }, headers || {});
  if (state.token) h2.Authorization = "Bearer " + state.token;
  if (body !== undefined) h2["Content-Type"] = "application/json";
  const res = await fetch(path, { method, headers: h2, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (res.status === 401 && state.token) {
    signedOut("Your session ended; sign in again.");
    throw new ApiError(401, json);
  }
  if (!res.ok) throw new ApiError(res.status, json);
  return { json, etag: res.headers.get("ETag") };
}

// Runs an action, then says how it went; the page reloads with what the
// read models hold once the write is reflected (?min_position).
async function act(label, fn, go, said = "done") {
  try {
    const r = await fn();
    state.waitFor = r && r.json && r.json.position;
    state.flash = [label + ": " + said, "done"];
    const next = go ? go(r) : null;
    if (next && next !== location.hash) location.hash = next; // hashchange renders it
    else await render();
  } catch (e) {
    flash(label + ": " + e.message + (e.field ? " (" + e.field + ")" : ""), "error");
  }
}

function ask(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

function when(text) {
  if (!text) return "";
  return text.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC");
}

function wait() {
  const p = state.waitFor;
  state.waitFor = undefined;
  return p ? "min_position=" + p + "&" : "";
}

function role() {
  return state.me ? state.me.role : "";
}
function can(...roles) {
  return roles.includes(role());
}

// --- sign-in ---------------------------------------------------------------

function signedOut(message) {
  state.token = null;
  state.me = null;
  state.revealed = new Map();
  sessionStorage.removeItem("lethe.token");
  if (message) state.flash = [message, "error"];
  if (location.hash !== "#/signin") location.hash = "#/signin";
  else render();
}

function signinView(mine) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "card refused", id: "signin" },
    h("h1", {}, "Sign in"),
    h("label", {}, h("span", {}, "Email"), email),
    h("label", {}, h("span", {}, "Password"), password),
    h("button", { type: "submit" }, "Sign in"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/sessions", { email: email.value, password: password.value });
      state.token = r.json.token;
      sessionStorage.setItem("lethe.token", state.token);
      flash("");
      location.hash = "#/";
    } catch (e) {
      flash("Sign-in failed: " + e.message, "error");
    }
  });
  show(mine, form);
}

async function signout() {
  try {
    await api("DELETE", "/sessions/current");
  } catch (e) {
    // signed out either way
  }
  signedOut();
}

// --- customers -------------------------------------------------------------

async function customersView(mine, params) {
  const email = params.get("email") || "";
  const name = (params.get("name") || "").toLowerCase();
  const after = params.get("after") || "";
  const query = email ? "email=" + encodeURIComponent(email) + "&include_deleted=true"
    : "limit=100&include_deleted=true" + (after ? "&after=" + encodeURIComponent(after) : "");
  const { json } = await api("GET", "/users?" + wait() + query);
  const users = json.users.filter((u) => !name || (u.name || "").toLowerCase().includes(name));
  const emailInput = h("input", { type: "search", name: "email", placeholder: "exact email", value: email });
  const nameInput = h("input", { type: "search", name: "name", placeholder: "part of a name, on this page", value: name });
  const search = h("form", { class: "row card", id: "customer-search" },
    h("label", {}, h("span", {}, "Email"), emailInput),
    h("label", {}, h("span", {}, "Name"), nameInput),
    h("button", { type: "submit" }, "Search"));
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    if (emailInput.value) q.set("email", emailInput.value);
    if (nameInput.value) q.set("name", nameInput.value);
    location.hash = "#/customers?" + q.toString();
  });
  const rows = users.map((u) =>
    h("tr", { "data-user": u.id },
      h("td", {}, h("a", { href: "#/customers/" + u.id }, u.name || "(no name)")),
      h("td", {}, u.email || ""),
      h("td", {}, h("span", { class: "badge" }, u.role)),
      h("td", {}, u.active ? h("span", { class: "badge ok" }, "active") : h("span", { class: "badge warn" }, "deactivated")),
      h("td", { class: "muted" }, when(u.registered_at))));
  const parts = [
    h("h1", {}, "Customers and staff"),
    search,
    h("table", { id: "customers" },
      h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Email"), h("th", {}, "Role"), h("th", {}, "State"), h("th", {}, "Registered"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No one matches.")))),
    h("p", { class: "row" }, after ? h("a", { href: "#/customers" }, "First page") : "",
      json.next_after ? h("a", { href: "#/customers?after=" + encodeURIComponent(json.next_after) + (name ? "&name=" + encodeURIComponent(name) : "") }, "Next page") : "")];
  if (can("admin", "owner")) parts.push(createUserForm());
  show(mine, ...parts);
}

function createUserForm() {
  const email = h("input", { type: "email", name: "email", required: true });
  const name = h("input", { type: "text", name: "name", required: true });
  const roleSel = h("select", { name: "role" }, ["user", "staff", "admin", "auditor", "service", "owner"].map((r) => h("option", { value: r }, r)));
  const form = h("form", { class: "card", id: "create-user" },
    h("h2", {}, "New account"),
    h("label", {}, h("span", {}, "Email"), email),
    h("label", {}, h("span", {}, "Name"), name),
    h("label", {}, h("span", {}, "Role"), roleSel),
    h("button", { type: "submit" }, "Create"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("Create " + email.value, () => api("POST", "/users", { email: email.value, name: name.value, role: roleSel.value }));
  });
  return form;
}

async function customerView(mine, id) {
  const user = await api("GET", "/users/" + encodeURIComponent(id) + "?" + wait().replace(/&$/, ""));
  const u = user.json;
  const ifMatch = { "If-Match": '"' + u.version + '"' };
  const path = "/users/" + encodeURIComponent(id);
  const [plan, keys, notes] = await Promise.all([
    api("GET", path + "/plan").then((r) => r.json, () => null),
    can("admin", "owner") ? api("GET", path + "/api-keys?limit=100").then((r) => r.json, () => null) : null,
    api("GET", path + "/notes").then((r) => r.json, () => null),
  ]);
  const parts = [h("h1", {}, u.name || "(no name)", " ", h("span", { class: "badge" }, u.role), " ",
    u.active ? h("span", { class: "badge ok" }, "active") : h("span", { class: "badge warn" }, "deactivated"))];
  parts.push(h("section", { id: "account" },
    h("dl", {},
      h("dt", {}, "Email"), h("dd", {}, u.email || ""),
      h("dt", {}, "Id"), h("dd", { class: "mono" }, u.id),
      h("dt", {}, "Registered"), h("dd", {}, when(u.registered_at)),
      h("dt", {}, "Changed"), h("dd", {}, when(u.updated_at) + " (version " + u.version + ")"))));
  if (can("admin", "owner")) {
    const roleSel = h("select", { name: "role" }, ["user", "staff", "admin", "auditor", "service", "owner"].map((r) => h("option", { value: r, selected: r === u.role }, r)));
    parts.push(h("section", { id: "account-actions" }, h("h2", {}, "Account"),
      h("div", { class: "row" },
        roleSel,
        h("button", { onclick: () => act("Role", () => api("PUT", path + "/role", { role: roleSel.value }, ifMatch)) }, "Change role"),
        u.active
          ? h("button", { class: "danger", onclick: async () => { if (await ask("Deactivate " + (u.name || u.id) + "? They can no longer sign in.")) act("Deactivate", () => api("POST", path + "/deactivate", undefined, ifMatch)); } }, "Deactivate")
          : h("button", { onclick: () => act("Restore", () => api("POST", path + "/restore", undefined, ifMatch)) }, "Restore"),
        h("button", { class: "danger", id: "start-erasure", onclick: async () => {
          if (await ask("Erase " + (u.name || u.id) + " now? Their key is destroyed and every read model forgets them. This cannot be undone."))
            act("Erasure", () => api("POST", path + "/erasure"), (r) => "#/erasures/" + r.json.id);
        } }, "Erase now"))));
  }
  parts.push(planSection(plan));
  if (keys) parts.push(keysSection(path, keys));
  if (notes) parts.push(notesSection(path, notes));
  show(mine, ...parts);
}

function planSection(plan) {
  const s = h("section", { id: "plan" }, h("h2", {}, "Plan and usage"));
  if (!plan) return s.appendChild(h("p", { class: "muted" }, "Not shown to this role.")), s;
  const p = plan.plan, t = plan.trial, m = plan.payment_method;
  s.append(h("dl", {},
    h("dt", {}, "Plan"), h("dd", {}, p ? p.name + ": " + p.used + " of " + p.monthly_limit + " units used in " + p.period + " (" + p.left + " left)" : "none"),
    h("dt", {}, "Trial"), h("dd", {}, t ? t.plan + ": " + t.used + " of " + t.limit + " used, " + t.state + ", ends " + when(t.ends_at) : "none"),
    h("dt", {}, "Payment method"), h("dd", {}, m && m.on_file ? m.brand + " ending " + m.last4 + ", expires " + m.expires : "none on file")));
  return s;
}

function keysSection(path, keys) {
  const rows = keys.api_keys.map((k) => h("tr", {},
    h("td", {}, k.name), h("td", { class: "mono" }, k.prefix || ""), h("td", {}, when(k.created_at)),
    h("td", {}, k.revoked_at ? h("span", { class: "badge warn" }, "revoked") : h("button", { class: "quiet", onclick: async () => {
      if (await ask("Revoke the API key " + k.name + "?")) act("Revoke", () => api("DELETE", path + "/api-keys/" + encodeURIComponent(k.key_id)));
    } }, "Revoke"))));
  return h("section", { id: "api-keys" }, h("h2", {}, "API keys"),
    rows.length ? h("table", {}, h("tbody", {}, rows)) : h("p", { class: "muted" }, "No API keys."));
}

function notesSection(path, notes) {
  const text = h("textarea", { name: "note", required: true, maxlength: 2000 });
  const form = h("form", { id: "add-note" }, text, h("button", { type: "submit" }, "Add staff note"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    act("Note", () => api("POST", path + "/notes", { text: text.value }));
  });
  const list = (notes.notes || []).map((n) => h("li", {}, n.text || h("span", { class: "muted" }, "(forgotten)"), " ", h("span", { class: "muted" }, "by " + n.author + ", " + when(n.added_at))));
  return h("section", { id: "notes" }, h("h2", {}, "Staff notes"), h("ul", {}, list), form);
}

// --- erasure requests ------------------------------------------------------

async function erasuresView(mine, params) {
  const status = params.get("status") || "open";
  const email = params.get("email") || "";
  const offset = Number(params.get("offset") || 0);
  const q = new URLSearchParams({ limit: "100", offset: String(offset) });
  if (status !== "all") q.set("status", status);
  if (email) q.set("email", email);
  const { json } = await api("GET", "/erasure-requests?" + wait() + q.toString());
  const requests = json.erasure_requests;
  const emailInput = h("input", { type: "search", name: "email", placeholder: "the person's exact email", value: email });
  const statusSel = h("select", { name: "status" }, ["open", "all", "awaiting_confirmation", "pending", "erased", "complete", "expired", "cancelled"].map((s) => h("option", { value: s, selected: s === status }, s)));
  const search = h("form", { class: "row card", id: "erasure-search" },
    h("label", {}, h("span", {}, "Email"), emailInput), h("label", {}, h("span", {}, "Status"), statusSel), h("button", { type: "submit" }, "Search"));
  search.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams({ status: statusSel.value });
    if (emailInput.value) p.set("email", emailInput.value);
    location.hash = "#/erasures?" + p.toString();
  });
  const rows = requests.map((r) => {
    return h("tr", { "data-request": r.id, class: r.overdue ? "overdue" : "" },
      h("td", {}, h("a", { href: "#/erasures/" + r.id, class: "mono" }, r.id.slice(0, 8))),
      h("td", { class: "mono" }, r.user_id.slice(0, 8)),
      h("td", {}, r.mode),
      h("td", {}, h("span", { class: "badge" + (r.status === "complete" ? " ok" : "") }, r.status)),
      h("td", {}, when(r.requested_at)),
      h("td", {}, r.deadline.slice(0, 10), r.overdue ? [" ", h("span", { class: "badge danger" }, "overdue")] : ""));
  });
  show(mine, h("h1", {}, "Erasure requests"), search,
    h("table", { id: "erasures" },
      h("thead", {}, h("tr", {}, h("th", {}, "Request"), h("th", {}, "Person"), h("th", {}, "Mode"), h("th", {}, "Status"), h("th", {}, "Requested"), h("th", {}, "Deadline"))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No requests.")))),
    pager(params, offset > 0 ? Math.max(0, offset - 100) : null, json.next_offset, "#/erasures"));
}

// Earlier and later pages of a list, as links that keep the search.
function pager(params, previous, next, base) {
  const link = (offset, text) => {
    const p = new URLSearchParams(params);
    p.set("offset", String(offset));
    return h("a", { href: base + "?" + p.toString() }, text);
  };
  return h("p", { class: "row" }, previous !== null ? link(previous, "Earlier") : "", next !== null && next !== undefined ? link(next, "Later") : "");
}

async function erasureView(mine, id) {
  const path = "/erasure-requests/" + encodeURIComponent(id);
  const [{ json: r }, letters] = await Promise.all([
    api("GET", path + "?" + wait().replace(/&$/, "")),
    api("GET", "/dead-letters").then((x) => x.json.dead_letters, () => null),
  ]);
  const open = OPEN_STATUSES.includes(r.status);
  const parts = [h("h1", {}, "Erasure request ", h("span", { class: "mono" }, r.id.slice(0, 8)), " ",
    h("span", { class: "badge", id: "request-status" }, r.status),
    r.overdue ? [" ", h("span", { class: "badge danger", id: "overdue" }, "overdue")] : "")];
  parts.push(h("section", { id: "request" }, h("dl", {},
    h("dt", {}, "Person"), h("dd", { class: "mono" }, r.user_id),
    h("dt", {}, "Mode"), h("dd", {}, r.mode === "self" ? "asked by the person" : "by an admin"),
    h("dt", {}, "Requested"), h("dd", {}, when(r.requested_at) + " by " + r.requested_by),
    h("dt", {}, "Legal deadline"), h("dd", {}, when(r.deadline) + " (one month from the request)"),
    h("dt", {}, "Confirmed"), h("dd", {}, r.confirmed_at ? when(r.confirmed_at) : "not yet"),
    h("dt", {}, "Erased"), h("dd", {}, r.erased_at ? when(r.erased_at) + " by " + r.erased_by : "not yet"),
    h("dt", {}, "Key fingerprint"), h("dd", { class: "mono", id: "fingerprint" }, r.key_fingerprint || "the key still exists"),
    h("dt", {}, "Readable in backups until"), h("dd", {}, r.readable_in_backups_until ? when(r.readable_in_backups_until) : "not known"),
    h("dt", {}, "Records handed over"), h("dd", {}, r.records && r.records.length ? r.records.map((x) => x.kind + " " + x.id).join(", ") + " to " + r.handed_to : "none"),
    h("dt", {}, "Beyond reach"), h("dd", {}, r.beyond_reach || ""))));
  if (can("admin", "owner") && open)
    parts.push(h("section", { id: "request-actions", class: "row" },
      h("button", { class: "danger", id: "execute", disabled: r.status !== "pending", title: r.status !== "pending" ? "the person has not confirmed yet" : "", onclick: async () => {
        if (await ask("Carry out this erasure? The person's key is destroyed and every projection applies its policy. This cannot be undone."))
          act("Erasure", () => api("POST", path + "/execute"));
      } }, "Carry out"),
      h("button", { class: "quiet", id: "cancel-request", onclick: async () => {
        if (await ask("Cancel this erasure request?")) act("Cancel", () => api("POST", path + "/cancel"));
      } }, "Cancel request")));
  const receipts = new Map(r.receipts.map((x) => [x.projection, x.applied_at]));
  parts.push(h("section", { id: "receipts" }, h("h2", {}, "Projections"),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Projection"), h("th", {}, "Erasure policy"), h("th", {}, "Receipt"))),
      h("tbody", {}, r.policies.map((p) => h("tr", { "data-projection": p.projection },
        h("td", {}, p.projection),
        h("td", { class: "muted" }, p.rules.length ? p.rules.join("; ") : "holds nothing of a person"),
        h("td", {}, receipts.get(p.projection) ? h("span", { class: "badge ok" }, "applied " + when(receipts.get(p.projection)))
          : receipts.has(p.projection) ? h("span", { class: "badge warn" }, "waiting")
            : h("span", { class: "muted" }, r.erased_at ? "not asked" : "after the erasure"))))))));
  if (r.tasks && r.tasks.length)
    parts.push(h("section", { id: "tasks" }, h("h2", {}, "External systems"),
      h("table", {}, h("tbody", {}, r.tasks.map((t) => h("tr", { "data-task": t.task },
        h("td", {}, t.task),
        h("td", {}, t.confirmed_at ? "confirmed by " + t.confirmed_by + ", " + when(t.confirmed_at)
          : can("admin", "owner") && r.erased_at ? h("button", { class: "quiet", onclick: async () => {
            if (await ask("Confirm that " + t.task + " forgot the person?")) act("Task", () => api("POST", path + "/tasks/" + encodeURIComponent(t.task) + "/confirm"));
          } }, "Confirm") : h("span", { class: "muted" }, "waiting for the erasure"))))))));
  const streams = new Set(r.streams.map((x) => x.stream_id));
  const named = letters ? letters.filter((d) => streams.has(d.stream_id)) : [];
  parts.push(h("section", { id: "streams" }, h("h2", {}, "Their streams and topics"),
    h("p", { class: "muted" }, "Their account's stream and every stream they wrote to. Their personal fields on these topics are sealed under their key: once it is destroyed, nothing there opens."),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Stream"), h("th", {}, "Topic"), h("th", {}, "Events"))),
      h("tbody", {}, r.streams.map((x) => h("tr", { "data-stream": x.stream_id },
        h("td", { class: "mono" }, x.stream_id), h("td", { class: "mono" }, x.topic), h("td", { class: "num" }, x.events))))),
    h("h2", {}, "Dead letters that name them"),
    letters === null ? h("p", { class: "muted" }, "Not shown to this role.")
      : named.length ? h("ul", { id: "their-dead-letters" }, named.map((d) => h("li", { class: "mono" }, d.id + " " + d.stream_id + " (" + d.projection + ": " + d.reason + ")")))
        : h("p", { class: "muted", id: "their-dead-letters" }, "None among the newest dead letters.")));
  show(mine, ...parts);
}

// --- operations ------------------------------------------------------------

async function operationsView(mine) {
  const [{ json: o }, { json: dl }] = await Promise.all([api("GET", "/operations"), api("GET", "/dead-letters")]);
  const jobs = new Map(o.jobs.map((j) => [j.projection, j]));
  const rows = o.projections.map((p) => h("tr", { "data-projection": p.name },
    h("td", {}, p.name),
    h("td", {}, h("span", { class: "badge " + (p.state === "caught_up" ? "ok" : "warn") }, p.state.replace("_", " "))),
    h("td", { class: "num" }, p.lag),
    h("td", { class: "num" }, p.lag ? p.lag_seconds.toFixed(1) + " s" : "0"),
    h("td", { class: "num" }, p.partitions),
    h("td", {}, when(p.last_batch)),
    jobCell(jobs.get(p.name)),
    h("td", { class: "actions" }, o.jobs_available && can("admin", "owner") ? jobButtons(p.name, jobs.get(p.name)) : "")));
  if (o.jobs.some((j) => j.state === "running")) watchJobs(mine);
  show(mine, h("h1", {}, "Operations"),
    h("div", { class: "grid" },
      h("section", {}, h("h2", {}, "Services"), h("dl", {},
        h("dt", {}, "PostgreSQL"), h("dd", {}, o.postgres),
        h("dt", {}, "Kafka"), h("dd", {}, o.kafka))),
      h("section", {}, h("h2", {}, "Relay"), h("dl", {},
        h("dt", {}, "Backlog"), h("dd", { id: "relay-backlog" }, o.relay.backlog === null ? "unknown" : o.relay.backlog + " events"),
        h("dt", {}, "Oldest waiting"), h("dd", {}, o.relay.oldest_seconds ? o.relay.oldest_seconds.toFixed(1) + " s" : "none"))),
      h("section", {}, h("h2", {}, "Dead letters"), h("p", { id: "dead-letters" }, o.dead_letters === null ? "unknown" : o.dead_letters + " on the dead-letter topic"))),
    h("h2", {}, "Projections"),
    h("table", { id: "projections" },
      h("thead", {}, h("tr", {}, h("th", {}, "Projection"), h("th", {}, "State"), h("th", {}, "Lag (events)"), h("th", {}, "Lag (age)"), h("th", {}, "Partitions"), h("th", {}, "Last batch"), h("th", {}, "Rebuild or rollback"), h("th", {}, ""))),
      h("tbody", {}, rows)),
    deadLettersSection(dl));
}

// While a job runs, its rows are brought up to date every second from GET
// /operations alone (its progress moves no read model, so /changes does
// not say so), as long as this view is the one shown.
function watchJobs(mine) {
  setTimeout(async () => {
    if (mine !== rendering) return;
    let running = true;
    try {
      const { json: o } = await api("GET", "/operations");
      if (mine !== rendering) return;
      const jobs = new Map(o.jobs.map((j) => [j.projection, j]));
      for (const row of document.querySelectorAll("#projections tr[data-projection]")) {
        const name = row.dataset.projection;
        row.querySelector(".job").replaceWith(jobCell(jobs.get(name)));
        if (o.jobs_available && can("admin", "owner")) row.querySelector(".actions").replaceChildren(...jobButtons(name, jobs.get(name)));
      }
      running = o.jobs.some((j) => j.state === "running");
    } catch (e) {
      if (e.status === 401) return;
    }
    if (running) watchJobs(mine);
  }, 1000);
}

// The last rebuild or rollback of a projection started from here: how far,
// or how it ended and why.
function jobCell(job) {
  if (!job) return h("td", { class: "job muted" }, "none since the server started");
  const badge = { running: "warn", done: "ok" }[job.state] || "danger";
  const head = job.action + " " + (job.state === "running" ? Math.round(100 * job.progress) + " %" : job.state);
  return h("td", { class: "job" }, h("span", { class: "badge " + badge }, head),
    job.message ? h("div", { class: "muted small" }, job.message) : "",
    h("div", { class: "muted small" }, "started " + when(job.started_at)));
}

// Rebuild beside the live version (cut over only when proven equal), or
// switch back to the version the last cut-over kept; each asks first, and
// the server records it in the audit log.
function jobButtons(name, job) {
  const running = job && job.state === "running";
  const start = (action, label, text) => h("button", { class: action === "rollback" ? "quiet" : "", disabled: running, onclick: async () => {
    if (await ask(text)) act(label + " " + name, () => api("POST", "/projections/" + encodeURIComponent(name) + "/" + action), null, "started");
  } }, label);
  return [
    start("rebuild", "Rebuild", "Rebuild " + name + " beside the live version? The live one keeps serving; the new one replaces it only once it has caught up and holds the same rows. Recorded in the audit log."),
    " ",
    start("rollback", "Roll back", "Switch " + name + " back to the version the last cut-over kept? It is brought up to date first. Recorded in the audit log."),
  ];
}

// Dead letters, newest first, each payload masked; an admin or owner may
// reveal one, which the server records in the audit log.
function deadLettersSection(dl) {
  const rows = dl.dead_letters.map((d) => {
    // A payload revealed once stays on the page through live reloads (a
    // second look would be a second audited reveal).
    const shown = (text) => h("td", {}, h("pre", { class: "mono" }, text));
    const payload = state.revealed.has(d.id) ? shown(state.revealed.get(d.id))
      : h("td", { class: "masked" }, "•••• " + d.payload_bytes + " bytes");
    const reveal = can("admin", "owner") && !state.revealed.has(d.id) ? h("button", { class: "quiet", onclick: async () => {
      if (!(await ask("Reveal this dead letter's payload? Personal fields in an event stay sealed, but a message that is not one shows as it is; the reveal is recorded in the audit log."))) return;
      try {
        const r = await api("POST", "/dead-letters/" + encodeURIComponent(d.id) + "/reveal");
        const text = r.json.payload !== null ? r.json.payload : "hex: " + r.json.payload_hex;
        state.revealed.set(d.id, text);
        payload.replaceWith(shown(text));
        reveal.remove();
      } catch (e) {
        flash("Reveal: " + e.message, "error");
      }
    } }, "Reveal") : "";
    return h("tr", { "data-dead-letter": d.id },
      h("td", { class: "mono" }, d.id), h("td", {}, d.projection), h("td", {}, d.type || "(undecodable)"),
      h("td", { class: "mono" }, d.stream_id), h("td", {}, d.reason), payload, h("td", {}, reveal));
  });
  return h("section", { id: "dead-letter-list" }, h("h2", {}, "Dead letters (" + dl.total + ")"),
    rows.length ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Id"), h("th", {}, "Projection"), h("th", {}, "Type"), h("th", {}, "Stream"), h("th", {}, "Reason"), h("th", {}, "Payload"), h("th", {}, ""))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "None."));
}

// --- routing, live updates -------------------------------------------------

function refusedView(mine) {
  show(mine, h("section", { class: "refused", id: "refused" }, h("h1", {}, "Not for this account"),
    h("p", {}, "The console is for staff, admins, owners and auditors. Your account (" + role() + ") can use lethe's API for its own data."),
    h("button", { onclick: signout }, "Sign out")));
}

function home() {
  if (can("staff", "admin", "owner")) return "#/customers";
  if (can("auditor")) return "#/erasures";
  return "#/refused";
}

// reloaded: a reload because the read models moved, which leaves the
// message on screen as it is.
async function render(reloaded) {
  inFlight++;
  try {
    await renderNow(reloaded);
  } finally {
    inFlight--;
  }
}

// Renders in flight: a live reload waits until none is, so it never races
// the render of an action (which waits for that action's write).
let inFlight = 0;

async function renderNow(reloaded) {
  const mine = ++rendering;
  // A message from the action or sign-out that led here, else none.
  if (reloaded !== true) {
    const message = state.flash || ["", ""];
    state.flash = null;
    flash(message[0], message[1]);
  }
  const [path, query] = location.hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = (path || "/").split("/").filter(Boolean);
  if (!state.token) {
    document.getElementById("nav").hidden = true;
    document.getElementById("signout").hidden = true;
    document.getElementById("live").hidden = true;
    document.getElementById("whoami").textContent = "";
    return signinView(mine);
  }
  if (!state.me) {
    try {
      state.me = (await api("GET", "/me")).json;
    } catch (e) {
      return signedOut("Sign in again.");
    }
    if (can("staff", "admin", "owner", "auditor")) live();
  }
  const nav = document.getElementById("nav");
  nav.hidden = false;
  for (const a of nav.querySelectorAll("a")) {
    a.hidden = !a.dataset.roles.split(" ").includes(role());
    a.classList.toggle("current", a.getAttribute("href") === "#/" + (parts[0] || ""));
  }
  document.getElementById("signout").hidden = false;
  document.getElementById("live").hidden = !can("staff", "admin", "owner", "auditor");
  document.getElementById("whoami").textContent = (state.me.name || state.me.email) + " (" + role() + ")";
  if (!can("staff", "admin", "owner", "auditor")) return refusedView(mine);
  try {
    if (parts[0] === "customers" && parts[1]) return await customerView(mine, parts[1]);
    if (parts[0] === "customers") return await customersView(mine, params);
    if (parts[0] === "erasures" && parts[1]) return await erasureView(mine, parts[1]);
    if (parts[0] === "erasures") return await erasuresView(mine, params);
    if (parts[0] === "operations") return await operationsView(mine);
    location.hash = home();
  } catch (e) {
    if (e.status === 401) return;
    show(mine, h("section", { class: "refused" }, h("h1", {}, e.status === 403 ? "Not allowed" : "Could not load this page"), h("p", {}, e.message)));
  }
}

// Long polls /changes: whenever any projection applies a batch, the page
// on screen is loaded again (unless someone is typing into it).
async function live() {
  const badge = document.getElementById("live");
  const me = state.me;
  while (state.me === me) {
    try {
      const q = state.progress === null ? "" : "?after=" + state.progress;
      const started = Date.now();
      const { json } = await api("GET", "/changes" + q);
      badge.classList.remove("off");
      const typing = document.activeElement && ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
      const busy = typing || inFlight > 0 || document.getElementById("confirm").open;
      // While someone types or confirms, the change stays pending: the
      // progress seen is kept, and the page reloads once they are done.
      if (state.progress === null || !busy) {
        const moved = state.progress !== null && json.changed;
        state.progress = json.progress;
        if (moved) await render(true);
      }
      // At most two polls a second, whatever the server's longest wait.
      const floor = busy ? 1000 : 500;
      if (Date.now() - started < floor) await new Promise((r) => setTimeout(r, floor - (Date.now() - started)));
    } catch (e) {
      badge.classList.add("off");
      if (e.status === 401 || e.status === 403) return;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

document.getElementById("signout").addEventListener("click", signout);
window.addEventListener("hashchange", () => render());
render();
