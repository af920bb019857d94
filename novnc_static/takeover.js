// Taking over a PC someone else is on (its policy is "exclusive"; gateway/api/occupancy.py).
// The asker: askTakeover() sends the request and waits for the answer. The person at the PC:
// watchTakeover() polls their session now and then and shows "X asks to take over this PC"
// with Accept / Refuse for as long as the request lives (no answer counts as a refusal), and
// who else is on a shared PC.
// Names come from other people: only ever through textContent.
import { t } from './i18n.js';

const BACKGROUND = { 'X-Ponte-Background': '1' };
const ASK_POLL_MS = 1000;
const WATCH_MS = 2000;
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function call(url, csrf, method = 'GET', body = undefined) {
  const r = await fetch(url, {
    method, credentials: 'same-origin', cache: 'no-store',
    headers: method === 'GET' ? BACKGROUND : { 'X-CSRFToken': csrf, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}

// Resolves { state, request }: state 'accepted' (open the PC with `request`), 'refused',
// 'expired' or 'failed' (message says why). onWait(secondsLeft) while the answer is awaited.
export async function askTakeover({ url, csrf, onWait }) {
  let reply;
  try { reply = await call(url, csrf, 'POST', {}); } catch { return { state: 'failed', message: t('The gateway did not answer.') }; }
  if (reply.status === 201) return { state: 'accepted', request: reply.body.request };
  if (reply.status !== 202) return { state: 'failed', message: reply.body.error?.message || t('The gateway answered {status}.', { status: reply.status }) };
  const { request } = reply.body;
  for (;;) {
    await sleep(ASK_POLL_MS);
    let now;
    try { now = await call(url, csrf); } catch { continue; }
    if (now.status !== 200 || now.body.request !== request) return { state: 'failed', message: t('The request was lost.') };
    if (now.body.state !== 'pending') return { state: now.body.state, request };
    onWait?.(now.body.expires_in);
  }
}

// Shows the prompt to the person at the PC. sessionUrl(id) is the session's take-over address;
// currentSession() the live session's id (or null while not connected).
export function watchTakeover({ sessionUrl, currentSession, csrf, events }) {
  const box = document.createElement('div');
  box.id = 'takeover-prompt';
  box.className = 'takeover-prompt';
  box.setAttribute('role', 'alertdialog');
  box.setAttribute('aria-live', 'assertive');
  box.hidden = true;
  const text = document.createElement('p');
  const left = document.createElement('p');
  left.className = 'hint';
  const accept = document.createElement('button');
  accept.type = 'button';
  accept.className = 'bad';
  accept.textContent = t('Hand over the PC');
  const refuse = document.createElement('button');
  refuse.type = 'button';
  refuse.className = 'primary';
  refuse.textContent = t('Keep working');
  box.append(text, left, accept, refuse);
  (document.getElementById('shell') || document.body).prepend(box);

  let shown = null;       // { session, request, until }
  let tick = null;

  function hide() { box.hidden = true; shown = null; clearInterval(tick); }
  async function answer(what) {
    if (!shown) return;
    const { session, request } = shown;
    hide();
    events?.push({ type: 'takeover-answer', answer: what });
    try { await call(sessionUrl(session), csrf, 'POST', { request, answer: what }); } catch { /* it expires: a refusal */ }
  }
  accept.addEventListener('click', () => answer('accept'));
  refuse.addEventListener('click', () => answer('refuse'));

  function countdown() {
    const s = Math.max(0, Math.round((shown.until - performance.now()) / 1000));
    left.textContent = t('If you do not answer within {seconds} s, you keep the PC.', { seconds: s });
    if (s <= 0) hide();
  }

  // Who else is on the PC (shared): next to the status, so nobody watches unseen.
  const present = document.createElement('span');
  present.id = 'others-present';
  present.className = 'others';
  present.hidden = true;
  document.getElementById('status')?.after(present);
  function showPresent(names) {
    const text = names && names.length ? t('Also on this PC: {names}', { names: names.join(', ') }) : '';
    if (present.textContent !== text) present.textContent = text;
    present.hidden = !text;
  }

  setInterval(async () => {
    const session = currentSession();
    if (!session) { if (shown) hide(); showPresent([]); return; }
    let now;
    try { now = await call(sessionUrl(session), csrf); } catch { return; }
    if (now.status === 200) showPresent(now.body.others);
    const asked = now.status === 200 ? now.body.takeover : null;
    if (!asked) { if (shown) hide(); return; }
    if (shown && shown.request === asked.request) return;
    shown = { session, request: asked.request, until: performance.now() + asked.expires_in * 1000 };
    text.textContent = t('{person} asks to take over this PC.', { person: asked.by });
    box.hidden = false;
    events?.push({ type: 'takeover-asked', by: asked.by });
    clearInterval(tick);
    countdown();
    tick = setInterval(countdown, 1000);
  }, WATCH_MS);
}
