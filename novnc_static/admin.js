// Small helpers for the admin pages; every page works without them.
import { lang, t } from './i18n.js';

// Times: shown in the reader's own time zone, in the page's language (the page prints the
// gateway's time zone; that stays in the tooltip).
for (const el of document.querySelectorAll('time[datetime]')) {
  const d = new Date(el.getAttribute('datetime'));
  if (!Number.isNaN(d.getTime())) {
    el.title = el.textContent;
    el.textContent = d.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
  }
}

// Copy buttons next to codes and commands.
for (const b of document.querySelectorAll('button[data-copy]')) {
  b.addEventListener('click', async () => {
    const text = document.getElementById(b.dataset.copy).textContent;
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = t('Copied');
    } catch {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(b.dataset.copy));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      b.textContent = t('Selected: press Ctrl+C');
    }
    setTimeout(() => { b.textContent = t('Copy'); }, 3000);
  });
}

// The enrolment page watches for the agent to arrive.
const enrol = document.querySelector('.enrol[data-status-url]');
if (enrol) {
  const out = document.getElementById('enrol-status');
  const poll = async () => {
    try {
      const r = await fetch(enrol.dataset.statusUrl, {
        credentials: 'same-origin', cache: 'no-store', headers: { 'X-Ponte-Background': '1' },
      });
      if (!r.ok) return;
      const { machine } = await r.json();
      if (machine.status.online) {
        // "Enrolled and online" once: the status adds words only when it says more than "Online".
        out.textContent = machine.status.state === 'online'
          ? t('Enrolled and online.')
          : t('Enrolled and online: {status}.', { status: machine.status.message });
        out.dataset.state = 'online';
        return true;
      }
      if (machine.enrolled_at) { out.textContent = t('Enrolled. Waiting for the agent to connect…'); out.dataset.state = 'enrolled'; }
    } catch { /* next tick */ }
    return false;
  };
  const timer = setInterval(async () => { if (await poll()) clearInterval(timer); }, 3000);
}

// Bulk changes on the users and PCs lists: "select all on this page" ticks every row's box,
// and the form says how many are ticked. Without this script the row boxes still work.
for (const all of document.querySelectorAll('input[data-tick-all]')) {
  const form = document.getElementById(all.getAttribute('form'));
  if (!form) continue;   // an empty list has no bulk form
  const field = all.dataset.tickAll;
  const boxes = () => [...document.querySelectorAll(`input[type="checkbox"][name="${field}"]`)];
  const count = form.querySelector(`[data-ticked-count="${field}"]`);
  const show = () => {
    const ticked = boxes().filter((b) => b.checked).length;
    all.checked = ticked > 0 && ticked === boxes().length;
    all.indeterminate = ticked > 0 && ticked < boxes().length;
    if (count) count.textContent = t('Ticked: {n}', { n: ticked });
  };
  all.addEventListener('change', () => { for (const b of boxes()) b.checked = all.checked; show(); });
  for (const b of boxes()) b.addEventListener('change', show);
  show();
  all.disabled = false;
}
