// Ponte viewer: ask the gateway for a one-time ticket, hand noVNC the
// WebSocket URL, and tell the person in plain words what is happening.
// Names shown here come from other people: they only ever go through
// textContent / document.title, never innerHTML.
const screen = document.getElementById('screen');
const statusEl = document.getElementById('status');
const nameEl = document.getElementById('desktop-name');
const reconnectBtn = document.getElementById('reconnect');
const cancelBtn = document.getElementById('cancel-reconnect');
const loginLink = document.getElementById('login-again');
const scaleBtn = document.getElementById('scale');
const qualitySel = document.getElementById('quality');
const fullBtn = document.getElementById('fullscreen');
const pasteDlg = document.getElementById('paste');
const pasteText = document.getElementById('paste-text');
const shell = document.getElementById('shell');
const wakeBtn = document.getElementById('wake');
const machineName = screen.dataset.machineName;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const { default: RFB } = await import(screen.dataset.novnc);
const { t } = await import('./i18n.js');
const { wakeAndWait } = await import('./wake.js');
const { noticeBanner } = await import('./notices.js');
const { viewerState } = await import('./viewer_state.js');
window.ponte = { events: [] };  // read by the browser tests; harmless for people
const view = viewerState({ machineName, events: window.ponte.events });
// Every page has every part (viewer/shell.html); what the page may not use has no URL here
// (a guest: no notices, no quality reports, no files), and gets none of its behaviour.
const notices = screen.dataset.noticesUrl
  ? noticeBanner(document.getElementById('notices'), screen.dataset.noticesUrl) : { start() {}, stop() {} };
const { watchQuality } = await import('./viewer_quality.js');
const { askTakeover, watchTakeover } = await import('./takeover.js');
if (document.getElementById('files-open').dataset.files) import('./files.js');  // files to and from the PC
const { toolbarChrome } = await import('./viewer_chrome.js');
const { touchInput } = await import('./viewer_touch.js');
const { localClipboard } = await import('./viewer_clipboard.js');

// Requests the page makes by itself carry this: they do not keep an unattended login alive.
const BACKGROUND = { 'X-Ponte-Background': '1' };
const RETRY_MAX_S = 30;
const RETRY_LIMIT = 12;          // then stop and offer a button: the PC is probably off
const CLOSE_RESTART = 1012;      // RFC 6455 Service Restart: a gateway node is draining
const RESTART_LIMIT = 3;         // immediate reconnects in a row, then the usual backoff
// After a node's restart the PC's agent may still be moving to a node that stays (the draining
// node tells it to, within a couple of seconds): a session that fails to start in that window
// is tried again shortly, not after the backoff, and is not taken for a PC that is asleep.
const RESTART_GRACE_MS = 10000;
const RESTART_RETRY_MS = 500;
const QUALITY = {                // noVNC: qualityLevel 0-9 (JPEG), compressionLevel 0-9
  high: { quality: 8, compression: 1 },
  medium: { quality: 6, compression: 2 },
  low: { quality: 2, compression: 9 },
};
const store = {
  get(key, fallback) { try { return localStorage.getItem(`ponte.${key}`) ?? fallback; } catch { return fallback; } },
  set(key, value) { try { localStorage.setItem(`ponte.${key}`, value); } catch { /* private mode */ } },
};

let rfb = null;
let session = null;
let retries = 0;
let stopped = false;          // the person pressed Disconnect
let failure = null;           // a reason the agent or gateway gave us
let countdown = null;
let scaleOn = store.get('scale', 'fit') === 'fit';
let quality = QUALITY[store.get('quality', 'medium')] ? store.get('quality', 'medium') : 'medium';
let keysyms = null;
let closed = null;            // {code, reason} of the session's WebSocket once it closed
let restarts = 0;
let restartedAt = -Infinity;
let message = '';             // the status sentence, without the reconnect countdown
let takeoverRequest = null;   // an accepted take-over: the next session opens with it (once)

const chrome = toolbarChrome({ events: window.ponte.events });
const loadKeysyms = async () => {
  if (!keysyms) keysyms = (await import(screen.dataset.keysyms)).default;
  return keysyms;
};
const touch = touchInput({ rfb: () => rfb, keysyms: loadKeysyms, events: window.ponte.events });
const clipboard = localClipboard({ rfb: () => rfb, events: window.ponte.events, screen });

// noVNC reads an RFB reason string byte by byte (as Latin-1); Ponte's agent, like most VNC
// servers, sends UTF-8 (RFC 6143 §7.1.2 leaves the encoding open): decode it again, and keep
// the text as it came when it is not UTF-8.
function rfbText(text) {
  if (!text) return text;
  try {
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff);
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (_) {
    return text;
  }
}

// The toolbar's status and the overlay's sentence; with `state`, the overlay's state too.
function setStatus(text, kind = '', state = null) {
  message = text;
  statusEl.textContent = text;   // textContent: names come from other people
  statusEl.dataset.kind = kind;
  if (state) view.set(state, text); else view.detail(text);
}

function show(el, on) { el.hidden = !on; }

// A recorded session: the notice (the admin's text, from the gateway) and the mark, shown
// before the session connects and for as long as it runs.
function showRecording(recording) {
  const mark = document.getElementById('recording-mark');
  const notice = document.getElementById('recording-notice');
  notice.textContent = recording ? recording.notice : '';
  show(mark, !!recording);
  show(notice, !!recording);
  window.ponte.recording = !!recording;
}

// No ticket in the URL (proxies log URLs): it travels as a WebSocket subprotocol,
// next to websockify's "binary", which the gateway selects.
function wsUrl() {
  const url = new URL('/ws/view', window.location.href);
  url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.href;
}

// The session's socket is ours, handed to noVNC, so that its close code and
// reason reach us: noVNC's disconnect event carries neither.
// The ticket travels as a subprotocol, never in the URL (proxy logs); the gateway answers 'binary'.
function openChannel(ticket) {
  const ws = new WebSocket(wsUrl(), ['binary', `ponte.ticket.${ticket}`]);
  ws.addEventListener('close', (e) => { closed = { code: e.code, reason: e.reason }; });
  window.ponte.socketUrl = ws.url;
  return ws;
}

// An admin's page on someone's live session (Watch / Take control) opens a shadow session instead.
function sessionRequest() {
  if (screen.dataset.shadowUrl) {
    return { url: screen.dataset.shadowUrl, body: JSON.stringify({ control: screen.dataset.shadowControl === '1' }) };
  }
  return { url: screen.dataset.sessions, body: JSON.stringify(takeoverRequest ? { takeover: takeoverRequest } : {}) };
}

async function openSession() {
  const request = sessionRequest();
  const r = await fetch(request.url, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrf, 'Content-Type': 'application/json' },
    body: request.body,
  });
  takeoverRequest = null;
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(body.error?.message || t('The gateway answered {status}.', { status: r.status }));
    err.status = r.status;
    err.code = body.error?.code;
    err.final = r.status === 403 || r.status === 401 || r.status === 409;
    throw err;
  }
  return body;
}

// How the session ended: {status, body}; body.reconnect says whether trying again makes sense.
async function sessionInfo(id) {
  try {
    const r = await fetch(screen.dataset.sessionUrl.replace('__ID__', encodeURIComponent(id)),
      { credentials: 'same-origin', headers: BACKGROUND });
    return { status: r.status, body: r.ok ? await r.json() : null };
  } catch { return { status: 0, body: null }; }
}

// The portal's plain words for the PC's state (e.g. offline), when a session never started.
async function machineMessage() {
  try {
    const r = await fetch(screen.dataset.machines, { credentials: 'same-origin', cache: 'no-store', headers: BACKGROUND });
    if (!r.ok) return null;
    const { machines } = await r.json();
    const m = machines.find((x) => String(x.id) === screen.dataset.machine);
    return m && !m.available ? m.message : null;
  } catch { return null; }
}

// Whether the PC is off or asleep and another PC on its network can wake it.
async function machineWakeable() {
  try {
    const r = await fetch(screen.dataset.machines, { credentials: 'same-origin', cache: 'no-store', headers: BACKGROUND });
    if (!r.ok) return false;
    const { machines } = await r.json();
    return Boolean(machines.find((x) => String(x.id) === screen.dataset.machine)?.wakeable);
  } catch { return false; }
}

// Waking → waiting for the PC → connecting; the session starts once its agent is online.
async function wakeUp() {
  show(wakeBtn, false);
  show(reconnectBtn, false);
  show(cancelBtn, false);
  clearInterval(countdown);
  const ok = await wakeAndWait({
    wakeUrl: screen.dataset.wake, machinesUrl: screen.dataset.machines, id: screen.dataset.machine, csrf,
    onStep: (step, text) => {
      window.ponte.events.push({ type: 'wake', step });
      setStatus(text, step === 'failed' ? 'error' : '', step === 'failed' ? 'offline' : 'waking');
    },
  });
  if (ok) { retries = 0; connect(); return; }
  wakeBtn.textContent = t('Try waking again');
  show(wakeBtn, true);
}

function applySettings() {
  if (!rfb) return;
  rfb.scaleViewport = scaleOn;
  rfb.clipViewport = false;
  rfb.qualityLevel = QUALITY[quality].quality;
  rfb.compressionLevel = QUALITY[quality].compression;
}

function loggedOut() {
  setStatus(t('You are logged out (or your account was disabled).'), 'error', 'loggedout');
  show(loginLink, true);
}

// Asleep, and a neighbour can wake it: offer that instead of knocking on a dark PC.
function offerWake() {
  window.ponte.events.push({ type: 'wakeable' });
  wakeBtn.textContent = t('Wake up');
  show(wakeBtn, true);
}

async function connect(note = t('Connecting…')) {
  clearInterval(countdown);
  for (const el of [reconnectBtn, cancelBtn, wakeBtn, loginLink]) show(el, false);
  stopped = false;
  failure = null;
  closed = null;
  setStatus(note, '', 'connecting');
  let issued;
  try {
    issued = await openSession();
  } catch (err) {
    if (err.status === 401) { loggedOut(); return; }
    if (err.code === 'offline') {
      // The agent is not connected (the PC is off, asleep or its agent stopped): wake it when a
      // neighbour can, else keep trying, as the PC may be back in a moment.
      setStatus(err.message, 'error', 'offline');
      reconnectBtn.textContent = t('Reconnect now');
      show(reconnectBtn, true);   // at once: the wake check below is one more request
      if (await machineWakeable()) { offerWake(); return; }
      scheduleReconnect();
      return;
    }
    setStatus(err.message, 'error', err.code === 'in_use' ? 'busy' : (err.final ? 'failed' : 'lost'));
    if (err.code === 'in_use') offerTakeover();   // someone else has this PC to themselves
    if (err.final) {
      reconnectBtn.textContent = t('Try again');
      show(reconnectBtn, true);
      return;
    }
    scheduleReconnect();
    return;
  }
  session = issued.session;
  showRecording(issued.recording);
  const started = performance.now();
  rfb = new RFB(screen, openChannel(issued.ticket), { shared: true });
  rfb.focusOnClick = true;
  // The gateway drops a view-only session's input anyway; noVNC then need not send it.
  rfb.viewOnly = Boolean(issued.view_only);
  for (const id of ['paste-open', 'cad']) document.getElementById(id).hidden = rfb.viewOnly;  // nothing to send
  touch.offer(!rfb.viewOnly);
  applySettings();
  window.ponte.rfb = rfb;
  if (screen.dataset.qualityUrl) {
    watchQuality(rfb, session, { url: screen.dataset.qualityUrl, csrf, el: document.getElementById('link-quality') });
  }
  rfb.addEventListener('connect', () => {
    retries = 0;
    restarts = 0;
    setStatus(t('Connected'), 'ok', 'connected');
    notices.start(session);
    window.ponte.events.push({ type: 'connect', session, ms: performance.now() - started });
    rfb.focus();
  });
  rfb.addEventListener('securityfailure', (e) => {
    failure = rfbText(e.detail.reason) || t('The PC refused the connection.');
  });
  rfb.addEventListener('desktopname', (e) => {
    const name = String(e.detail.name || machineName);
    document.title = `${name} · Ponte`;
    nameEl.textContent = `(${name})`;
  });
  rfb.addEventListener('clipboard', (e) => {
    pasteText.value = e.detail.text;   // what was copied on the PC, ready to copy here
    clipboard.fromPC(e.detail.text);   // and on this computer's clipboard, where the browser allows
  });
  rfb.addEventListener('disconnect', async (e) => {
    window.ponte.events.push({ type: 'disconnect', clean: e.detail.clean });
    rfb = null;
    notices.stop();
    if (stopped) {
      setStatus(t('Disconnected.'), '', 'stopped');
      reconnectBtn.textContent = t('Connect again');
      show(reconnectBtn, true);
      return;
    }
    if (closed && closed.code === CLOSE_RESTART && restarts < RESTART_LIMIT) {
      // A gateway node is restarting: reconnect at once, the balancer sends us to one that stays.
      restarts += 1;
      restartedAt = performance.now();
      const reason = closed.reason || t('The gateway is restarting; reconnecting…');
      window.ponte.events.push({ type: 'restarting', reason });
      connect(reason);
      return;
    }
    const restarting = performance.now() - restartedAt < RESTART_GRACE_MS;
    const info = await sessionInfo(session);
    if (info.status === 401) { loggedOut(); return; }
    const body = info.body || {};
    const neverStarted = info.status === 404 || body.state === 'pending';
    // The PC's own refusal (an RFB security failure: its agent could not use the VNC server) is
    // final whatever the gateway could say yet: the end it records may still lack the PC's word
    // (it comes on the agent's control channel, not on this stream), and trying again would only
    // knock on the VNC server with the same wrong password.
    const reason = failure || body.end_reason || (neverStarted ? await machineMessage() : null);
    if (body.reconnect === false || failure) {
      if (body.ended_by && reason) setStatus(t('Session ended by {person}: {reason}', { person: body.ended_by, reason }), 'error', 'ended');
      else if (body.ended_by) setStatus(t('Session ended by {person}.', { person: body.ended_by }), 'error', 'ended');
      else setStatus(reason || t('Session ended.'), 'error', 'ended');
      window.ponte.events.push({ type: 'ended', reason, by: body.ended_by || null });
      reconnectBtn.textContent = t('Connect again');
      show(reconnectBtn, true);
      return;
    }
    let text = t('Connection lost.');
    if (neverStarted && reason) text = `${reason}.`;
    else if (reason) text = t('Connection lost: {reason}.', { reason });
    if (neverStarted && restarting) {
      const again = t('The gateway is restarting; reconnecting…');
      window.ponte.events.push({ type: 'restarting', reason: again });
      setStatus(again, '', 'connecting');
      setTimeout(() => connect(again), RESTART_RETRY_MS);
      return;
    }
    setStatus(text.replace(/\.\.$/, '.'), 'error', neverStarted && reason ? 'offline' : 'lost');
    if (neverStarted && await machineWakeable()) { offerWake(); return; }
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  if (retries >= RETRY_LIMIT) {
    setStatus(t('{message} Gave up reconnecting.', { message }), 'error');
    reconnectBtn.textContent = t('Try again');
    show(reconnectBtn, true);
    show(cancelBtn, false);
    return;
  }
  const wait = Math.min(RETRY_MAX_S, 2 ** retries);
  retries += 1;
  let left = wait;
  const base = message;
  reconnectBtn.textContent = t('Reconnect now');
  show(reconnectBtn, true);
  show(cancelBtn, true);
  window.ponte.events.push({ type: 'reconnecting', wait });
  const tick = () => {
    if (left <= 0) { clearInterval(countdown); connect(); return; }
    // the countdown is shown, not kept: ``message`` stays the sentence it counts down after
    statusEl.textContent = t('{message} Reconnecting in {seconds} s…', { message: base, seconds: left });
    statusEl.dataset.kind = 'error';
    view.detail(statusEl.textContent);
    left -= 1;
  };
  clearInterval(countdown);
  tick();
  countdown = setInterval(tick, 1000);
}

// "In use by …": ask that person to hand the PC over (an admin takes it at once).
const takeoverBtn = document.createElement('button');
takeoverBtn.type = 'button';
takeoverBtn.id = 'takeover';
takeoverBtn.className = 'primary';
takeoverBtn.hidden = true;
takeoverBtn.textContent = t('Ask to take over');
reconnectBtn.after(takeoverBtn);
const takeoverUrl = screen.dataset.sessions.replace(/sessions$/, 'takeover');

function offerTakeover() {
  show(takeoverBtn, true);
  reconnectBtn.textContent = t('Try again');
  show(reconnectBtn, true);
}

takeoverBtn.addEventListener('click', async () => {
  show(takeoverBtn, false);
  show(reconnectBtn, false);
  setStatus(t('Asking…'), '', 'busy');
  window.ponte.events.push({ type: 'takeover-asking' });
  const answer = await askTakeover({
    url: takeoverUrl, csrf,
    onWait: (s) => setStatus(t('Waiting for an answer ({seconds} s)…', { seconds: s })),
  });
  window.ponte.events.push({ type: 'takeover', state: answer.state });
  if (answer.state === 'accepted') { takeoverRequest = answer.request; connect(); return; }
  if (answer.state === 'refused') setStatus(t('The person on this PC wants to keep working.'), 'error');
  else if (answer.state === 'expired') setStatus(t('No answer: the person on this PC keeps it.'), 'error');
  else setStatus(answer.message || t('The request did not go through.'), 'error');
  offerTakeover();
});

if (!document.body.classList.contains('guest')) watchTakeover({  // a guest is asked nothing
  sessionUrl: (id) => `${screen.dataset.sessionUrl.replace('__ID__', encodeURIComponent(id))}/takeover`,
  currentSession: () => (rfb ? session : null),
  csrf,
  events: window.ponte.events,
});

reconnectBtn.addEventListener('click', () => { retries = 0; show(takeoverBtn, false); connect(); });
wakeBtn.addEventListener('click', () => { wakeUp(); });
cancelBtn.addEventListener('click', () => {
  clearInterval(countdown);
  show(cancelBtn, false);
  reconnectBtn.textContent = t('Reconnect');
  setStatus(t('Not connected.'), 'error', 'lost');
});

document.getElementById('disconnect').addEventListener('click', () => {
  stopped = true;
  clearInterval(countdown);
  show(cancelBtn, false);
  if (rfb) rfb.disconnect();
  else { setStatus(t('Disconnected.'), '', 'stopped'); reconnectBtn.textContent = t('Connect again'); show(reconnectBtn, true); }
});

document.getElementById('cad').addEventListener('click', () => {
  if (!rfb) return;
  rfb.sendCtrlAltDel();
  view.toast(t('Sent Ctrl+Alt+Del'));   // nothing else shows that it went
  window.ponte.events.push({ type: 'cad' });
  rfb.focus();
});

// The label says what the screen does now; aria-pressed says whether "fit to window" is on, so the
// name keeps "Fit to window" in it (and the visible words, for voice control).
function showScale() {
  scaleBtn.setAttribute('aria-pressed', String(scaleOn));
  scaleBtn.textContent = scaleOn ? t('Fit to window') : t('Actual size');
  if (scaleOn) scaleBtn.removeAttribute('aria-label');
  else scaleBtn.setAttribute('aria-label', t('Fit to window (off: Actual size)'));
  scaleBtn.title = scaleOn ? t('Showing the whole screen; press for actual size (1:1)') : t('Actual size (1:1); press to fit the window');
}
scaleBtn.addEventListener('click', () => {
  scaleOn = !scaleOn;
  store.set('scale', scaleOn ? 'fit' : 'one');
  showScale();
  applySettings();
});
showScale();

qualitySel.value = quality;
qualitySel.addEventListener('change', () => {
  quality = QUALITY[qualitySel.value] ? qualitySel.value : 'medium';
  store.set('quality', quality);
  applySettings();
});

const canFullscreen = document.fullscreenEnabled || document.webkitFullscreenEnabled;
if (!canFullscreen) fullBtn.hidden = true;
fullBtn.addEventListener('click', () => {
  if (document.fullscreenElement || document.webkitFullscreenElement) {
    (document.exitFullscreen || document.webkitExitFullscreen).call(document);
  } else {
    (shell.requestFullscreen || shell.webkitRequestFullscreen).call(shell);
  }
});
const onFullscreen = () => {
  const on = Boolean(document.fullscreenElement || document.webkitFullscreenElement);
  fullBtn.setAttribute('aria-pressed', String(on));
  fullBtn.textContent = on ? t('Exit full screen') : t('Full screen');
  view.controls();   // the way out of full screen is never disabled
  if (on && rfb) rfb.focus();   // full screen is for the desktop: keys go there
};
document.addEventListener('fullscreenchange', onFullscreen);
document.addEventListener('webkitfullscreenchange', onFullscreen);

// Paste: onto the PC's clipboard (noVNC clipboardPasteFrom), or typed key by key.
document.getElementById('paste-open').addEventListener('click', () => {
  if (typeof pasteDlg.showModal === 'function') pasteDlg.showModal(); else pasteDlg.setAttribute('open', '');
  pasteText.focus();
});
pasteDlg.addEventListener('close', async () => {
  const action = pasteDlg.returnValue;
  const text = pasteText.value;
  pasteDlg.returnValue = '';
  if (!rfb || !text || (action !== 'clipboard' && action !== 'type')) { if (rfb) rfb.focus(); return; }
  if (action === 'clipboard') {
    rfb.clipboardPasteFrom(text);
    clipboard.sent(text);
    view.toast(t('Text is on the PC’s clipboard: press Ctrl+V there.'));
  } else {
    await typeText(text);
    view.toast(t('Text typed.'));
  }
  window.ponte.events.push({ type: 'paste', action, length: text.length });
  if (rfb) rfb.focus();
});

async function typeText(text) {
  await loadKeysyms();
  for (const ch of text) {
    if (!rfb) return;
    let sym;
    if (ch === '\n') sym = 0xff0d;          // Return
    else if (ch === '\t') sym = 0xff09;     // Tab
    else if (ch === '\r') continue;
    else sym = keysyms.lookup(ch.codePointAt(0));
    rfb.sendKey(sym, null);
  }
}

// Keyboard users: while the remote screen has focus every key goes to the PC,
// so one combination is kept back to reach the toolbar again.
window.addEventListener('keydown', (e) => {
  if (e.ctrlKey && e.altKey && e.shiftKey && e.code === 'KeyT') {
    e.preventDefault();
    e.stopImmediatePropagation();
    if (rfb) rfb.blur();
    chrome.back();   // in full screen the toolbar may be away
    (scaleBtn.offsetParent ? scaleBtn : document.getElementById('more')).focus();   // in the More menu on a phone
  }
}, true);

// The login ends after login_idle_timeout without a request from the person (gateway/auth.py).
// Using the remote desktop makes no HTTP request, so while keys, pointer or touch are used on it
// the page says so now and then; a viewer left alone lets the login expire like any page. (The
// relay itself is not cut by that: only a revocation, an admin or its own end stop it.)
const idleS = Number(screen.dataset.idleTimeout) || 1800;
const PING_MS = Math.max(1000, Math.min(120, idleS / 4) * 1000);
let used = false;
for (const type of ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart']) {
  // capture: noVNC stops these events at its canvas
  screen.addEventListener(type, () => { used = true; }, { capture: true, passive: true });
}
setInterval(() => {
  if (!used || !rfb) return;
  used = false;
  fetch(screen.dataset.ping, { credentials: 'same-origin', cache: 'no-store' })
    .then(() => window.ponte.events.push({ type: 'activity' }))
    .catch(() => { /* next time */ });
}, PING_MS);

document.title = `${machineName} · Ponte`;
connect();
