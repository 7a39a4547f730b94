/* Shouwang console: plain JS, no build step. Pages are told apart by <body data-page>. */
(function () {
  "use strict";
  const SW = window.SW || {text: {}, rules: {}, severities: {}, states: {}, outcomes: {}, lang: "zh"};
  const T = SW.text;
  const ACTIVE = ["open", "acknowledged", "dispatched"];
  const page = document.body.dataset.page;

  function pad(n) { return String(n).padStart(2, "0"); }
  /* every time is shown in the site's time zone (the alerts' config), whatever the phone or PC is set to */
  const SITE_TZ = SW.tz || "Asia/Shanghai";
  const CLOCK = new Intl.DateTimeFormat("en-GB", {timeZone: SITE_TZ, year: "numeric", month: "2-digit", day: "2-digit",
                                                  hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
  function siteParts(ms) {
    const o = {};
    for (const p of CLOCK.formatToParts(new Date(Number(ms)))) o[p.type] = p.value;
    return {year: Number(o.year), month: Number(o.month), day: Number(o.day), hour: Number(o.hour) % 24,
            minute: Number(o.minute)};
  }
  function fmtTime(ms) {
    if (ms === null || ms === undefined) return "–";
    const d = siteParts(ms);
    return `${d.year}-${pad(d.month)}-${pad(d.day)} ${pad(d.hour)}:${pad(d.minute)}`;
  }
  /* a date the API gives as 2026-12-01: 12月1日 / 1 Dec 2026 */
  function fmtDate(iso) {
    const [y, m, d] = String(iso).split("-").map(Number);
    if (!y || !m || !d) return String(iso);
    return SW.lang === "en" ? `${d} ${EN_MONTHS[m - 1]} ${y}` : `${y}年${m}月${d}日`;
  }
  function label(x) { return SW.lang === "en" ? `${x}: ` : `${x}：`; }
  function metres(v) { return SW.lang === "en" ? `${v} m` : `${v} 米`; }
  function paren(x) { return SW.lang === "en" ? ` (${x})` : `（${x}）`; }
  /* chart time labels: 24-hour clock, the date under the first label of each day (no "8am", no "11/27/26") */
  function fmtDay(d) { return SW.lang === "en" ? `${d.day} ${EN_MONTHS[d.month - 1]}` : `${d.month}月${d.day}日`; }
  const EN_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function axisTimes(u, splits) {
    let day = null;
    return splits.map(s => {
      const d = siteParts(s * 1000), hm = `${pad(d.hour)}:${pad(d.minute)}`;
      const k = `${d.year}-${d.month}-${d.day}`;
      const out = k !== day ? `${hm}\n${fmtDay(d)}` : hm;
      day = k;
      return out;
    });
  }
  function ago(ms) {
    const m = Math.max(0, Math.round((Date.now() - ms) / 60000));
    if (SW.lang === "en") return m < 1 ? "just now" : m < 120 ? `${m} min ago` : `${Math.round(m / 60)} h ago`;
    return m < 1 ? "刚刚" : m < 120 ? `${m} 分钟前` : `${Math.round(m / 60)} 小时前`;
  }
  /* the state as people read it: cleared by the engine and cancelled by the resident are not "handled" */
  function stateWord(state, outcome) {
    if (outcome === "auto_cleared" || outcome === "false_alarm") return SW.outcomes[outcome] || outcome;
    return SW.states[state] || state;
  }
  function word(group, key) { return (SW[group] || {})[key] || key; }
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
    if (!r.ok) {  // said in the reader's words from the answer's code; the English detail stays for the console log
      const err = new Error(errorText(data && data.code, (data && data.params) || {}, r.status));
      err.code = data && data.code; err.detail = data && data.detail; err.status = r.status;
      throw err;
    }
    return data;
  }
  /* an API error's code and params in the reader's words (console/errors.py has the same table) */
  function errorText(code, params, status) {
    const words = Object.assign({status}, params);
    if ("state" in params) words.state = stateWord(params.state, params.outcome);
    if ("done" in params) words.done = (SW.done_words || {})[params.done] || params.done;
    if ("action" in params) words.action = word("buttons", params.action);
    if ("role" in params) words.role = (SW.user_roles || {})[params.role] || params.role;
    const errors = SW.errors || {};
    const template = errors[code] || (status >= 500 ? errors.server_error : errors.failed) || "";
    return template.replace(/\{(\w+)\}/g, (m, k) => (k in words && words[k] !== null ? String(words[k]) : m));
  }
  function localize(root) {
    root.querySelectorAll("[data-time]").forEach(e => { e.textContent = fmtTime(e.dataset.time); });
    root.querySelectorAll("[data-ago]").forEach(e => { e.textContent = ago(Number(e.dataset.ago)); });
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
      box.textContent = `${T.critical_cue} ${p.title || SW.rules[p.rule] || p.rule} — ${p.place_name || p.place}` +
        (p.resident ? ` ${p.resident}` : "");
      box.hidden = false; box.classList.remove("flash"); void box.offsetWidth; box.classList.add("flash");
    }
    document.title = "(!) " + document.title.replace(/^\(!\) /, "");
    beep();
  }
  /* the sound toggle: text and an SVG (no emoji font needed), remembered across pages in this browser */
  const SOUND_KEY = "sw_sound";
  const sound = document.getElementById("sound");
  function showSound() {
    if (!sound) return;
    sound.classList.toggle("on", soundOn);
    sound.setAttribute("aria-pressed", String(soundOn));
    document.getElementById("sound-text").textContent = soundOn ? T.sound_on : T.sound_off;
  }
  function wake() {  // browsers start audio only after a gesture on this page
    try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); audio.resume(); } catch (e) { audio = null; }
  }
  try { soundOn = localStorage.getItem(SOUND_KEY) === "on"; } catch (e) { soundOn = false; }
  if (soundOn) document.addEventListener("pointerdown", wake, {once: true});
  showSound();
  if (sound) sound.addEventListener("click", () => {
    soundOn = !soundOn;
    try { localStorage.setItem(SOUND_KEY, soundOn ? "on" : "off"); } catch (e) { /* private mode: this page only */ }
    showSound();
    if (soundOn) wake();
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
        catch (e) { ev.target.disabled = false; alert(label(T.error) + e.message); }
      }}, SW.buttons.acknowledge));
    }
    const r = el("a", {class: `alert-row sev-${a.severity} st-${a.state}`, href: page === "family" ? "#" : `/alerts/${id}`,
                       "data-id": String(id), "data-state": a.state},
      el("span", {class: `badge sev-${a.severity}`}, SW.severities[a.severity] || a.severity),
      el("span", {class: "where"}, el("b", {class: "place"}, a.place_name || a.place),
         a.resident ? el("span", {class: "resident"}, " " + a.resident) : null, el("br"),
         el("span", {class: "muted area"}, a.area || "")),
      el("span", {class: "what"}, el("b", {class: "title"}, a.title || SW.rules[a.rule] || a.rule), " ",
         el("span", {class: "muted"}, `#${id}`), el("br"), el("span", {class: "sentence"}, a.sentence || "")),
      el("span", {class: "when"}, fmtTime(a.opened_at), el("br"), el("span", {class: "muted"}, ago(a.opened_at))),
      el("span", {class: `state st-${a.state}`}, a.state_word || stateWord(a.state, a.outcome)),
      actions);
    return r;
  }
  /* active alerts: the most severe first, then the newest */
  const RANK = {critical: 3, major: 2, warning: 1, maintenance: 0};
  function order(list) {
    const rows = [...list.children];
    rows.sort((x, y) => (RANK[y._data.severity] - RANK[x._data.severity]) || (y._data.opened_at - x._data.opened_at));
    rows.forEach((r, i) => { if (list.children[i] !== r) list.insertBefore(r, list.children[i] || null); });
  }
  function update(a) {
    const lists = [document.getElementById("alerts"), document.getElementById("recent")];
    const old = document.querySelector(`.alert-row[data-id="${a.id}"]`);
    const fresh = row(Object.assign({}, old ? old._data : {}, a));
    fresh._data = Object.assign({}, old ? old._data : {}, a);
    const activeList = lists[0], recent = lists[1];
    if (old) old.remove();
    if (ACTIVE.includes(a.state)) { activeList.prepend(fresh); order(activeList); }
    else if (recent) recent.prepend(fresh);
    const empty = document.getElementById("empty");
    if (empty) empty.hidden = activeList.children.length > 0;
    return fresh;
  }
  async function onChange(p) {
    const known = document.querySelector(`.alert-row[data-id="${p.id}"]`);
    let a = null;
    try {  // names, the sentence and the place live in the store, not in the event (no personal data on MQTT)
      a = (await api("GET", `/api/alerts/${p.id}`)).alert;
    } catch (e) { /* out of scope or gone */ }
    if (a === null) {
      if (!known) return;  // nothing a person could read about it: wait for the store
      a = Object.assign({}, known._data, {state: p.state, severity: p.severity});
    }
    update(a);
    if (p.action === "opened" && p.severity === "critical" && !known) cue(a);
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
      catch (e) { err.hidden = false; err.textContent = label(T.error) + e.message; b.disabled = false; }
    }));
    stream(p => { if (String(p.id) === id && p.action !== "notified") setTimeout(() => location.reload(), 300); });
  }

  async function devicesPage() {
    const [gws, devs] = await Promise.all([api("GET", "/api/gateways"), api("GET", "/api/devices?limit=2000")]);
    const g = document.getElementById("gateways");
    for (const x of gws.items) {
      const on = x.online === null ? "unknown" : x.online ? "online" : "offline";
      g.append(el("div", {class: `tile gw-${on}`}, el("b", {}, x.id), el("br"),
        on === "unknown" ? T.gw_unknown : (x.online ? T.online : T.offline_gw), " · ", T.n_devices.replace("{n}", x.devices),
        x.since ? el("span", {class: "muted"}, " " + fmtTime(x.since)) : null));
    }
    const tb = document.querySelector("#devices tbody");
    const order = {silent: 0, low_battery: 1, unknown: 2, ok: 3};
    devs.items.sort((a, b) => order[a.health] - order[b.health]);
    const H = T.health, P = T.place, L = T.last_seen, B = T.battery;
    for (const d of devs.items) {
      tb.append(el("tr", {class: `h-${d.health}`, "data-id": d.id},
        el("td", {class: "dev", "data-label": T.device}, el("b", {}, word("kinds", d.kind)), " ",
           el("span", {class: "muted code"}, d.id)),
        el("td", {"data-label": P}, d.place_name || d.place, d.area ? el("span", {class: "muted"}, " · " + d.area) : null),
        el("td", {class: `health h-${d.health}`, "data-label": H}, T["h_" + d.health] || d.health),
        el("td", {"data-label": L}, d.last_seen ? fmtTime(d.last_seen) + paren(ago(d.last_seen)) : "–"),
        el("td", {"data-label": B}, d.battery_v === null ? "–" : `${d.battery_v.toFixed(2)} V`)));
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
        `${label(T.level)}${s.level_m === null ? "–" : metres(s.level_m.toFixed(2))}`, el("br"),
        el("span", {class: "muted"}, `${T.warning_line} ${metres(s.warning_m)} · ${T.guaranteed_line} ${metres(s.guaranteed_m)}`)));
    }
    const pick = code || (st.items.length ? st.items[0].code : "");
    if (!pick) return;
    const data = await api("GET", `/api/stations/${encodeURIComponent(pick)}/levels?hours=24`);
    const card = document.getElementById("chart-card");
    card.hidden = false;
    document.getElementById("chart-title").textContent = data.station.name || data.station.code;
    document.getElementById("chart-area").textContent = data.station.area || "";
    const note = document.getElementById("chart-note");
    note.textContent = data.points.length ? "" : (data.readings_available ? T.no_readings : T.readings_down);
    const now = Date.now() / 1000, start = data.since / 1000;
    const xs = data.points.length ? data.points.map(p => p[0] / 1000) : [start, now];
    const ys = data.points.length ? data.points.map(p => p[1]) : [null, null];
    const w = xs.map(() => data.station.warning_m), g = xs.map(() => data.station.guaranteed_m);
    const box = document.getElementById("chart");
    const opts = {width: Math.min(box.clientWidth || 800, 1000), height: 320, scales: {x: {time: true}},
      tzDate: ts => uPlot.tzDate(new Date(ts * 1000), SITE_TZ),  // ticks on the site's whole hours
      series: [{label: T.time, value: (u, v) => v === null ? "–" : fmtTime(v * 1000)},
               {label: T.level_series, stroke: "#1f6feb", width: 2, value: (u, v) => v === null ? "–" : v.toFixed(2)},
               {label: T.warning_line, stroke: "#d29922", dash: [8, 4], value: (u, v) => v === null ? "–" : v.toFixed(2)},
               {label: T.guaranteed_line, stroke: "#cf222e", dash: [4, 4], value: (u, v) => v === null ? "–" : v.toFixed(2)}],
      axes: [{values: axisTimes, space: 60}, {label: T.meters}]};
    window.swChart = new uPlot(opts, [xs, ys, w, g], box);
    window.addEventListener("resize", () => window.swChart.setSize({width: Math.min(box.clientWidth, 1000), height: 320}));
  }

  function contactItem(c) {
    return el("li", {}, el("b", {}, c.name || c.code), " ", el("span", {class: "muted role"}, word("roles", c.role)),
      c.phone ? el("a", {class: "tel", href: `tel:${c.phone}`}, c.phone) : null);
  }

  async function familyPage() {
    const box = document.getElementById("household");
    const code = box.dataset.code;
    if (!code) return;
    async function load() {
      const h = await api("GET", `/api/households/${encodeURIComponent(code)}`);
      const none = h.readings_available ? (h.meter ? T.no_readings : T.no_meter) : T.readings_down;
      box.replaceChildren(...[el("h1", {}, h.place_name || h.code, h.resident ? el("span", {class: "resident"}, " " + h.resident) : null),
        h.area ? el("p", {class: "muted"}, h.area) : null,
        h.resident_phone ? el("p", {id: "resident-phone"}, label(T.home_phone),
          el("a", {class: "tel", href: `tel:${h.resident_phone}`}, h.resident_phone)) : null,
        el("p", {class: "big-fact"}, label(T.last_use), el("b", {id: "last-use"},
          h.last_water_use ? fmtTime(h.last_water_use) + paren(ago(h.last_water_use)) : none)),
        el("p", {class: "muted", id: "last-reading"}, label(T.last_reading) + (h.last_reading ? fmtTime(h.last_reading) : none)),
        h.away_until ? el("p", {}, label(T.away) + fmtDate(h.away_until)) : null,
        el("h2", {}, T.contacts), el("ul", {class: "contacts"}, ...h.contacts.map(contactItem))]
        .filter(x => x !== null));
      const list = document.getElementById("alerts");
      list.replaceChildren();
      for (const a of h.open_alerts.reverse()) update(a);
      document.getElementById("empty").hidden = h.open_alerts.length > 0;
    }
    await load();
    stream(p => { if (p.place === code) load(); });
  }

  // the red banner: a service of the alert path stopped working (console/ops.py); staff pages look every 30 s
  async function watchServices() {
    const box = document.getElementById("fault");
    if (!box || page === "family") return;
    try {
      const s = await api("GET", `/api/services?lang=${SW.lang}`);
      box.textContent = s.banner;
      box.hidden = !s.banner;
    } catch (e) { /* the next look tries again */ }
  }
  if (document.getElementById("who") && page !== "family") setInterval(watchServices, 30000);

  const pages = {board: boardPage, alert: detailPage, devices: devicesPage, stations: stationsPage, family: familyPage};
  if (pages[page]) pages[page]().catch(e => { if (e.message !== "401") console.error(e); });
})();
