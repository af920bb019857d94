// The viewer's "Share…" dialog (issue 14): create a link for a guest, see this PC's links, revoke one.
// Links and names only ever go through textContent, never innerHTML.
const { t } = await import('./i18n.js');

const dlg = document.getElementById('share-dialog');
const openBtn = document.getElementById('share-open');
const list = document.getElementById('share-links');
const result = document.getElementById('share-result');
const urlEl = document.getElementById('share-url');
const errorEl = document.getElementById('share-error');
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const JSON_POST = { 'X-CSRFToken': csrf, 'Content-Type': 'application/json' };
const STATES = { active: t('active'), used: t('used up'), expired: t('expired'), revoked: t('revoked') };

function fail(message) {
  errorEl.textContent = message;
  errorEl.hidden = false;
}

async function call(url, init = {}) {
  const r = await fetch(url, { credentials: 'same-origin', ...init });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error?.message || t('The gateway answered {status}.', { status: r.status }));
  return body;
}

async function showLinks() {
  let shares;
  try {
    ({ shares } = await call(dlg.dataset.shares, { cache: 'no-store' }));
  } catch (err) { fail(err.message); return; }
  list.replaceChildren();
  if (!shares.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = t('No share link yet.');
    list.append(li);
  }
  for (const s of shares) {
    const li = document.createElement('li');
    li.dataset.share = s.id;
    const until = new Date(s.expires_at).toLocaleString(document.documentElement.lang || 'en',
      { dateStyle: 'short', timeStyle: 'short' });
    const mode = s.view_only ? t('watch only') : t('control');
    const state = STATES[s.state] || s.state;
    li.textContent = t('{mode}, until {until}, {uses} of {most} used: {state}', {
      mode, until, uses: s.uses, most: s.max_uses, state,
    });
    if (s.state === 'active' || s.state === 'used') {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'small bad';
      b.textContent = t('Revoke');
      b.addEventListener('click', async () => {
        try {
          await call(dlg.dataset.revoke.replace('__ID__', encodeURIComponent(s.id)), { method: 'DELETE', headers: JSON_POST });
        } catch (err) { fail(err.message); }
        showLinks();
      });
      li.append(' ', b);
    }
    list.append(li);
  }
}

async function create() {
  errorEl.hidden = true;
  const body = {
    view_only: document.getElementById('share-mode').value !== 'control',
    minutes: Number(document.getElementById('share-minutes').value),
    max_uses: Number(document.getElementById('share-uses').value),
  };
  try {
    const { share } = await call(dlg.dataset.shares, { method: 'POST', headers: JSON_POST, body: JSON.stringify(body) });
    urlEl.textContent = share.url;
    result.hidden = false;
    (window.ponte ||= { events: [] }).events?.push({ type: 'share', id: share.id });
  } catch (err) { fail(err.message); }
  showLinks();
}

openBtn.addEventListener('click', () => {
  errorEl.hidden = true;
  if (typeof dlg.showModal === 'function') dlg.showModal(); else dlg.setAttribute('open', '');
  showLinks();
});
document.getElementById('share-form').addEventListener('submit', (e) => {
  if (e.submitter?.value === 'create') { e.preventDefault(); create(); }
});
document.getElementById('share-copy').addEventListener('click', async () => {
  try { await navigator.clipboard.writeText(urlEl.textContent); } catch {
    const range = document.createRange();
    range.selectNodeContents(urlEl);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
});
