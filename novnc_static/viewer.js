// Ponte viewer: ask the gateway for a one-time ticket, hand noVNC the
// WebSocket URL, and tell the person in plain words what is happening.
const screen = document.getElementById('screen');
const statusEl = document.getElementById('status');
const machineName = screen.dataset.machineName;
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const { default: RFB } = await import(screen.dataset.novnc);

const RETRY_MAX_S = 30;
let rfb = null;
let session = null;
let retries = 0;
let stopped = false;          // the person pressed Disconnect, or the session was ended on purpose
let failure = null;           // a reason the agent or gateway gave us
let countdown = null;
let scaleOn = true;

window.ponte = { events: [] };  // read by the browser tests; harmless for people

function setStatus(text, kind = '') {
  statusEl.textContent = text;   // textContent: names come from other people
  statusEl.dataset.kind = kind;
}

function wsUrl(ticket) {
  const url = new URL('/ws/view', window.location.href);
  url.protocol = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('ticket', ticket);
  return url.href;
}

async function openSession() {
  const r = await fetch(screen.dataset.sessions, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'X-CSRFToken': csrf, 'Content-Type': 'application/json' },
    body: '{}',
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(body.error?.message || `The gateway answered ${r.status}.`);
    err.final = r.status === 403 || r.status === 401;
    throw err;
  }
  return body;
}

async function endReason(id) {
  try {
    const r = await fetch(`/api/v1/sessions/${encodeURIComponent(id)}`, { credentials: 'same-origin' });
    if (!r.ok) return null;
    const body = await r.json();
    return body.end_reason || null;
  } catch { return null; }
}

async function connect() {
  clearInterval(countdown);
  failure = null;
  setStatus('Connecting…');
  let issued;
  try {
    issued = await openSession();
  } catch (err) {
    setStatus(err.message, 'error');
    if (!err.final) scheduleReconnect();
    return;
  }
  session = issued.session;
  const started = performance.now();
  rfb = new RFB(screen, wsUrl(issued.ticket), { shared: true });
  rfb.scaleViewport = scaleOn;
  rfb.focusOnClick = true;
  window.ponte.rfb = rfb;
  rfb.addEventListener('connect', () => {
    retries = 0;
    setStatus('Connected', 'ok');
    window.ponte.events.push({ type: 'connect', session, ms: performance.now() - started });
    rfb.focus();
  });
  rfb.addEventListener('securityfailure', (e) => {
    failure = e.detail.reason || 'The PC refused the connection.';
  });
  rfb.addEventListener('desktopname', (e) => {
    document.title = `${e.detail.name} · Ponte`;
  });
  rfb.addEventListener('disconnect', async (e) => {
    window.ponte.events.push({ type: 'disconnect', clean: e.detail.clean });
    rfb = null;
    if (stopped) { setStatus('Disconnected.'); return; }
    const reason = failure || await endReason(session);
    if (reason && /admin|revoked|disabled/i.test(reason)) {
      setStatus(`Session ended: ${reason}`, 'error');
      return;
    }
    setStatus(reason ? `Connection lost: ${reason}` : 'Connection lost.', 'error');
    scheduleReconnect();
  });
}

function scheduleReconnect() {
  const wait = Math.min(RETRY_MAX_S, 2 ** retries);
  retries += 1;
  let left = wait;
  const base = statusEl.textContent;
  const tick = () => {
    setStatus(`${base} Reconnecting in ${left} s…`, 'error');
    if (left-- <= 0) { clearInterval(countdown); connect(); }
  };
  clearInterval(countdown);
  tick();
  countdown = setInterval(tick, 1000);
}

document.getElementById('disconnect').addEventListener('click', () => {
  stopped = true;
  clearInterval(countdown);
  if (rfb) rfb.disconnect(); else setStatus('Disconnected.');
});
document.getElementById('cad').addEventListener('click', () => rfb && rfb.sendCtrlAltDel());
document.getElementById('scale').addEventListener('click', (e) => {
  scaleOn = !scaleOn;
  e.currentTarget.setAttribute('aria-pressed', String(scaleOn));
  e.currentTarget.textContent = scaleOn ? 'Fit to window' : '1:1';
  if (rfb) rfb.scaleViewport = scaleOn;
});
document.getElementById('fullscreen').addEventListener('click', () => {
  if (document.fullscreenElement) document.exitFullscreen(); else screen.requestFullscreen?.();
});

document.title = `${machineName} · Ponte`;
connect();
