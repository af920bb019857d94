// Keep the machine tiles current without a page reload: status, PCs newly
// granted or taken away; wake a sleeping PC and open it once it is up.
// Names go through textContent only.
import { t } from './i18n.js';
import { wakeAndWait } from './wake.js';

const list = document.getElementById('machines');
const empty = document.getElementById('no-machines');
const refreshed = document.getElementById('refreshed');
// Once a second while the page is visible: a PC whose VNC server just failed (the agent
// tells the gateway at once) shows it within a second. Hidden tabs do not poll.
const REFRESH_MS = 1000;
const csrf = document.querySelector('meta[name="csrf-token"]').content;

function ago(epoch) {
  const s = Math.max(0, Math.round(Date.now() / 1000 - epoch));
  if (s < 60) return t('{n} s ago', { n: s });
  if (s < 3600) return t('{n} min ago', { n: Math.floor(s / 60) });
  if (s < 86400) return t('{n} h ago', { n: Math.floor(s / 3600) });
  return t('{n} d ago', { n: Math.floor(s / 86400) });
}

function makeTile(m) {
  const li = document.createElement('li');
  li.dataset.machine = String(m.id);
  const h = document.createElement('h2');
  const status = document.createElement('p');
  status.className = 'status';
  status.setAttribute('aria-live', 'polite');
  const dot = document.createElement('span');
  dot.className = 'dot';
  dot.setAttribute('aria-hidden', 'true');
  const text = document.createElement('span');
  text.className = 'text';
  status.append(dot, text);
  const seen = document.createElement('p');
  seen.className = 'seen';
  const open = document.createElement('a');
  open.className = 'button primary open';
  open.href = list.dataset.view.replace('__ID__', encodeURIComponent(m.id));
  open.append(t('Open'));
  const sr = document.createElement('span');
  sr.className = 'sr';
  open.append(sr);
  const wake = document.createElement('button');
  wake.type = 'button';
  wake.className = 'button wake';
  wake.hidden = true;
  wake.append(t('Wake up'));
  const wakeSr = document.createElement('span');
  wakeSr.className = 'sr';
  wake.append(wakeSr);
  li.append(h, status, seen, open, wake);
  return li;
}

// Only touch what changed: the list is a live region, and a screen reader
// should hear "Front desk: Offline" once, not every few seconds.
function setText(el, text) { if (el.textContent !== text) el.textContent = text; }

function update(li, m) {
  const cls = `tile state-${m.state}${li.dataset.waking ? ' waking' : ''}`;
  if (li.className !== cls) li.className = cls;
  setText(li.querySelector('h2'), m.name);
  // While a wake is under way its progress is the tile's status, not "Offline"; after a
  // failed one, why it failed, until the PC's state changes.
  if (li.dataset.wakeNote && m.state !== 'offline') delete li.dataset.wakeNote;
  if (!li.dataset.waking) setText(li.querySelector('.status .text'), li.dataset.wakeNote || m.message);
  const wake = li.querySelector('.wake');
  setText(wake.querySelector('.sr'), ` ${m.name}`);
  wake.hidden = !m.wakeable || Boolean(li.dataset.waking);
  setText(li.querySelector('.seen'), !m.available && m.last_seen ? t('Last seen {ago}', { ago: ago(m.last_seen) }) : '');
  const open = li.querySelector('.open');
  setText(open.querySelector('.sr'), ` ${m.name}`);
  if (m.available) { open.removeAttribute('aria-disabled'); open.removeAttribute('tabindex'); }
  else { open.setAttribute('aria-disabled', 'true'); open.setAttribute('tabindex', '-1'); }
}

async function refresh() {
  try {
    // Marked as the page's own polling: it must not keep an unattended login alive (auth.py).
    const r = await fetch(list.dataset.refresh, {
      credentials: 'same-origin', cache: 'no-store', headers: { 'X-Ponte-Background': '1' },
    });
    if (r.status === 401) { window.location.reload(); return; }   // logged out: the login page
    if (!r.ok) return;
    const { machines } = await r.json();
    const seen = new Set();
    let previous = null;
    for (const m of machines) {
      const key = String(m.id);
      seen.add(key);
      let li = list.querySelector(`[data-machine="${CSS.escape(key)}"]`);
      if (!li) li = makeTile(m);
      update(li, m);
      // keep the server's order (by name)
      if (previous ? previous.nextElementSibling !== li : list.firstElementChild !== li) {
        if (previous) previous.after(li); else list.prepend(li);
      }
      previous = li;
    }
    for (const li of [...list.children]) if (!seen.has(li.dataset.machine)) li.remove();
    empty.hidden = machines.length > 0;
    setText(refreshed, '');
    window.ponte = window.ponte || {};
    window.ponte.portalRefreshed = (window.ponte.portalRefreshed || 0) + 1;
  } catch {
    setText(refreshed, t('Cannot reach the gateway right now; retrying…'));
  }
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a.open[aria-disabled="true"]');
  if (a) e.preventDefault();
  const wake = e.target.closest('button.wake');
  if (wake) wakeTile(wake.closest('li'));
});

async function wakeTile(li) {
  if (li.dataset.waking) return;
  const id = li.dataset.machine;
  const text = li.querySelector('.status .text');
  li.querySelector('.wake').hidden = true;
  const ok = await wakeAndWait({
    wakeUrl: list.dataset.wake.replace('__ID__', encodeURIComponent(id)),
    machinesUrl: list.dataset.refresh, id, csrf,
    onStep: (step, message) => {
      li.dataset.waking = step;
      li.classList.add('waking');
      setText(text, message);
      window.ponte = window.ponte || {};
      (window.ponte.wakeSteps = window.ponte.wakeSteps || []).push({ id, step });
    },
  });
  if (ok) { window.location.assign(li.querySelector('.open').href); return; }
  // Failed: the reason stays on the tile until the PC's state changes; Wake up comes back.
  li.dataset.wakeNote = text.textContent;
  delete li.dataset.waking;
  li.classList.remove('waking');
  refresh();
}
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
