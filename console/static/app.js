/* Shouwang console: plain JS, no build step. Pages are told apart by <body data-page>. */
(function () {
  "use strict";
  const SW = window.SW || {text: {}, rules: {}, severity: {}, state: {}, lang: "zh"};
  const T = SW.text;
  const ACTIVE = ["open", "acknowledged", "dispatched"];
  const page = document.body.dataset.page;

  function pad(n) { return String(n).padStart(2, "0"); }
  function fmtTime(ms) {
    if (ms === null || ms === undefined) return "–";
    const d = new Date(Number(ms));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  function ago(ms) {
    const m = Math.max(0, Math.round((Date.now() - ms) / 60000));
    if (SW.lang === "en") return m < 1 ? "just now" : m < 120 ? `${m} min ago` : `${Math.round(m / 60)} h ago`;
    return m < 1 ? "刚刚" : m < 120 ? `${m} 分钟前` : `${Math.round(m / 60)} 小时前`;
  }
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v);
      else if (k === "onclick") e.addEventListener("click", v); else e[k] = v;
    }
    for (const k of kids) if (k !== null && k !== undefined) e.append(k);
    return e;
  }
  async function api(method, url, body) {
    const r = await fetch(url, {method, credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-Sw-Csrf": "1"},
      body: body === undefined ? undefined : JSON.stringify(body)});
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("401"); }
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) throw new Error((data && data.detail) || `HTTP ${r.status}`);
    return data;
  }
  function localize(root) {
    root.querySelectorAll("[data-time]").forEach(e => { e.textContent = fmtTime(e.dataset.time); });
    root.querySelectorAll("[data-i18n-rule]").forEach(e => { e.textContent = SW.rules[e.dataset.i18nRule] || e.dataset.i18nRule; });
    root.querySelectorAll("[data-i18n-sev]").forEach(e => { e.textContent = SW.severity[e.dataset.i18nSev] || e.dataset.i18nSev; });
    root.querySelectorAll("[data-i18n-state]").forEach(e => { e.textContent = SW.state[e.dataset.i18nState] || e.dataset.i18nState; });
    root.querySelectorAll("[data-state]").forEach(e => { e.textContent = SW.state[e.dataset.state] || e.dataset.state; });
  }
  localize(document);
  const logout = document.getElementById("logout");
  if (logout) logout.addEventListener("click", async () => {
    try { await api("POST", "/api/logout"); } finally { location.href = "/login"; }
  });

  /* --- live stream and the critical cue (visible banner + sound) --- */
  window.swCues = 0;
  let audio = null;
  let soundOn = false;
  function beep() {
    if (!soundOn) return;
    audio = audio || new (window.AudioContext || window.webkitAudioContext)();
    const t0 = audio.currentTime;
    for (let i = 0; i < 3; i++) {
      const o = audio.createOscillator(), g = audio.createGain();
      o.frequency.value = 880; o.connect(g); g.connect(audio.destination);
      g.gain.setValueAtTime(0.3, t0 + i * 0.35); g.gain.setValueAtTime(0, t0 + i * 0.35 + 0.2);
      o.start(t0 + i * 0.35); o.stop(t0 + i * 0.35 + 0.22);
    }
  }
  function cue(p) {
    window.swCues += 1;
    const box = document.getElementById("cue");
    if (box) {
      box.textContent = `${T.critical_cue} ${SW.rules[p.rule] || p.rule} — ${p.place}`;
      box.hidden = false; box.classList.remove("flash"); void box.offsetWidth; box.classList.add("flash");
    }
    document.title = "(!) " + document.title.replace(/^\(!\) /, "");
    beep();
  }
  const sound = document.getElementById("sound");
  if (sound) sound.addEventListener("click", () => {
    soundOn = !soundOn;
    sound.textContent = soundOn ? T.sound_on : T.sound_off;
    if (soundOn) { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); audio.resume(); }
  });
  function stream(onAlert) {
    const live = document.getElementById("live");
    const es = new EventSource("/api/stream");
    es.addEventListener("hello", () => { if (live) { live.textContent = "● " + T.live; live.classList.remove("down"); } });
    es.addEventListener("alert", e => onAlert(JSON.parse(e.data)));
    es.onerror = () => { if (live) { live.textContent = "○ " + T.offline; live.classList.add("down"); } };
    window.swStream = es;
    return es;
  }

  /* --- alert rows (board and family page) --- */
  function row(a) {
    const id = a.id;
    const actions = el("div", {class: "row-actions"});
    if (a.state === "open") {
      actions.append(el("button", {class: "primary ack", "data-ack": String(id), onclick: async ev => {
        ev.preventDefault(); ev.stopPropagation();
        ev.target.disabled = true;
        try { const x = await api("POST", `/api/alerts/${id}/acknowledge`, {note: ""}); update(x); }
        catch (e) { ev.target.disabled = false; alert(T.error + ": " + e.message); }
      }}, T.acknowledge));
    }
    const r = el("a", {class: `alert-row sev-${a.severity} st-${a.state}`, href: page === "family" ? "#" : `/alerts/${id}`,
                       "data-id": String(id), "data-state": a.state},
      el("span", {class: `badge sev-${a.severity}`}, SW.severity[a.severity] || a.severity),
      el("span", {class: "what"}, el("b", {}, SW.rules[a.rule] || a.rule), " ",
         el("span", {class: "muted"}, `#${id}`), el("br"), a.summary || ""),
      el("span", {class: "where"}, a.place, el("br"), el("span", {class: "muted loc"}, a.location || "")),
      el("span", {class: "when"}, fmtTime(a.opened_at), el("br"), el("span", {class: "muted"}, ago(a.opened_at))),
      el("span", {class: `state st-${a.state}`}, SW.state[a.state] || a.state),
      actions);
    return r;
  }
  function update(a) {
    const lists = [document.getElementById("alerts"), document.getElementById("recent")];
    const old = document.querySelector(`.alert-row[data-id="${a.id}"]`);
    const fresh = row(Object.assign({}, old ? old._data : {}, a));
    fresh._data = Object.assign({}, old ? old._data : {}, a);
    const activeList = lists[0], recent = lists[1];
    if (old) old.remove();
    if (ACTIVE.includes(a.state)) activeList.prepend(fresh);
    else if (recent) recent.prepend(fresh);
    const empty = document.getElementById("empty");
    if (empty) empty.hidden = activeList.children.length > 0;
    return fresh;
  }
  async function onChange(p) {
    const known = document.querySelector(`.alert-row[data-id="${p.id}"]`);
    update({id: p.id, rule: p.rule, severity: p.severity, state: p.state, place: p.place, summary: p.summary,
            opened_at: p.opened_at});
    if (p.action === "opened" && p.severity === "critical" && !known) cue(p);
    try {  // fill in the location (names live in the store, not in the event)
      const d = await api("GET", `/api/alerts/${p.id}`);
      update(d.alert);
    } catch (e) { /* out of scope or gone: the event row stays */ }
  }

  async function boardPage() {
    const [act, rec] = await Promise.all([api("GET", "/api/alerts?active=true&limit=200"),
                                         api("GET", "/api/alerts?active=false&limit=20")]);
    for (const a of rec.items.reverse()) update(a);
    for (const a of act.items.reverse()) update(a);
    document.getElementById("empty").hidden = act.items.length > 0;
    stream(onChange);
  }

  async function detailPage() {
    const box = document.getElementById("detail");
    const id = box.dataset.id;
    const err = document.getElementById("act-error");
    box.querySelectorAll("[data-act]").forEach(b => b.addEventListener("click", async () => {
      const act = b.dataset.act;
      let body = {note: ""};
      if (act === "dispatch") body = {to: document.getElementById("dispatch-to").value.trim(), note: ""};
      if (act === "close") {
        const rating = document.getElementById("close-rating").value;
        body = {feedback: document.getElementById("close-feedback").value.trim(),
                rating: rating ? Number(rating) : null, false_alarm: false};
      }
      b.disabled = true;
      try { await api("POST", `/api/alerts/${id}/${act}`, body); location.reload(); }
      catch (e) { err.hidden = false; err.textContent = `${T.error}: ${e.message}`; b.disabled = false; }
    }));
    stream(p => { if (String(p.id) === id && p.action !== "notified") setTimeout(() => location.reload(), 300); });
  }

  async function devicesPage() {
    const [gws, devs] = await Promise.all([api("GET", "/api/gateways"), api("GET", "/api/devices?limit=2000")]);
    const g = document.getElementById("gateways");
    for (const x of gws.items) {
      const on = x.online === null ? "unknown" : x.online ? "online" : "offline";
      g.append(el("div", {class: `tile gw-${on}`}, el("b", {}, x.id), el("br"),
        on === "unknown" ? "–" : (x.online ? T.online : T.offline_gw), " · ", `${x.devices}`,
        x.since ? el("span", {class: "muted"}, " " + fmtTime(x.since)) : null));
    }
    const tb = document.querySelector("#devices tbody");
    const order = {silent: 0, low_battery: 1, unknown: 2, ok: 3};
    devs.items.sort((a, b) => order[a.health] - order[b.health]);
    for (const d of devs.items) {
      tb.append(el("tr", {class: `h-${d.health}`}, el("td", {}, d.id, el("br"), el("span", {class: "muted"}, d.kind)),
        el("td", {}, d.place, el("br"), el("span", {class: "muted"}, d.location)),
        el("td", {class: `health h-${d.health}`}, T["h_" + d.health] || d.health),
        el("td", {}, d.last_seen ? `${fmtTime(d.last_seen)} (${ago(d.last_seen)})` : "–"),
        el("td", {}, d.battery_v === null ? "–" : `${d.battery_v.toFixed(2)} V`)));
    }
    document.getElementById("readings-note").hidden = devs.readings_available;
  }

  async function stationsPage() {
    const list = document.getElementById("station-list");
    const code = list.dataset.code;
    const st = await api("GET", "/api/stations");
    for (const s of st.items) {
      const over = s.level_m === null ? "" : s.level_m >= s.guaranteed_m ? "over-g" : s.level_m >= s.warning_m ? "over-w" : "";
      list.append(el("a", {class: `tile station ${over} ${s.code === code ? "on" : ""}`, href: `/stations/${s.code}`},
        el("b", {}, s.name || s.code), el("br"),
        `${T.level}: ${s.level_m === null ? "–" : s.level_m.toFixed(2) + " m"}`, el("br"),
        el("span", {class: "muted"}, `${T.warning_line} ${s.warning_m} m · ${T.guaranteed_line} ${s.guaranteed_m} m`)));
    }
    const pick = code || (st.items.length ? st.items[0].code : "");
    if (!pick) return;
    const data = await api("GET", `/api/stations/${encodeURIComponent(pick)}/levels?hours=24`);
    const card = document.getElementById("chart-card");
    card.hidden = false;
    document.getElementById("chart-title").textContent = `${data.station.name || data.station.code} — ${data.station.location}`;
    const note = document.getElementById("chart-note");
    note.textContent = data.points.length ? "" : (data.readings_available ? T.no_readings : T.readings_down);
    const now = Date.now() / 1000, start = data.since / 1000;
    const xs = data.points.length ? data.points.map(p => p[0] / 1000) : [start, now];
    const ys = data.points.length ? data.points.map(p => p[1]) : [null, null];
    const w = xs.map(() => data.station.warning_m), g = xs.map(() => data.station.guaranteed_m);
    const box = document.getElementById("chart");
    const opts = {width: Math.min(box.clientWidth || 800, 1000), height: 320, scales: {x: {time: true}},
      series: [{}, {label: T.level + " (m)", stroke: "#1f6feb", width: 2},
               {label: T.warning_line, stroke: "#d29922", dash: [8, 4]},
               {label: T.guaranteed_line, stroke: "#cf222e", dash: [4, 4]}],
      axes: [{}, {label: "m"}]};
    window.swChart = new uPlot(opts, [xs, ys, w, g], box);
    window.addEventListener("resize", () => window.swChart.setSize({width: Math.min(box.clientWidth, 1000), height: 320}));
  }

  async function familyPage() {
    const box = document.getElementById("household");
    const code = box.dataset.code;
    if (!code) return;
    async function load() {
      const h = await api("GET", `/api/households/${encodeURIComponent(code)}`);
      box.replaceChildren(...[el("h1", {}, `${T.household} ${h.code}`), el("p", {}, h.location),
        el("p", {class: "big-fact"}, `${T.last_use}: `, el("b", {id: "last-use"},
          h.last_water_use ? `${fmtTime(h.last_water_use)} (${ago(h.last_water_use)})` : "–")),
        el("p", {class: "muted"}, `${T.last_reading}: ${h.last_reading ? fmtTime(h.last_reading) : "–"}`),
        h.away_until ? el("p", {}, `${T.away}: ${h.away_until}`) : null,
        el("p", {class: "muted"}, `${T.contacts}: ` +
          h.contacts.map(c => `${c.name || c.code} (${(SW.roles || {})[c.role] || c.role})`).join(", "))]
        .filter(x => x !== null));
      const list = document.getElementById("alerts");
      list.replaceChildren();
      for (const a of h.open_alerts.reverse()) update(a);
      document.getElementById("empty").hidden = h.open_alerts.length > 0;
    }
    await load();
    stream(p => { if (p.place === code) load(); });
  }

  const pages = {board: boardPage, alert: detailPage, devices: devicesPage, stations: stationsPage, family: familyPage};
  if (pages[page]) pages[page]().catch(e => { if (e.message !== "401") console.error(e); });
})();
