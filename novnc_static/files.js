// Files to and from the office PC, from the viewer: a Files panel (choose or drop files to
// send, the PC's shared files to fetch) and drag and drop onto the desktop. Transfers go
// over plain HTTP to the gateway (gateway/api/files.py), which relays them on the agent's
// own file stream, never inside the VNC session: XMLHttpRequest gives upload progress and
// abort(), fetch() a download's progress and AbortController. Names shown here come from
// the PC and from the person: textContent only, never innerHTML.
const { t } = await import('./i18n.js');

const openBtn = document.getElementById('files-open');
const screenEl = document.getElementById('screen');
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const events = () => (window.ponte ||= { events: [] }).events;

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

function bytes(n) {
  if (n < 1024) return t('{n} bytes', { n });
  const units = ['KB', 'MB', 'GB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i += 1; }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

let policy = null;            // the gateway's: both, upload, download, none
let maxBytes = Infinity;

const dialog = el('dialog', { id: 'files', className: 'files' });
const title = el('h2', { id: 'files-title', textContent: t('Files') });
dialog.setAttribute('aria-labelledby', 'files-title');
const picker = el('input', { type: 'file', multiple: true, id: 'files-pick' });
const pickLabel = el('label', { htmlFor: 'files-pick', textContent: t('Send files to the PC (or drop them on its screen):') });
const sendBox = el('div', { className: 'files-send' }, pickLabel, picker);
const transfers = el('ul', { className: 'files-transfers', id: 'files-transfers' });
const listTitle = el('h3', { textContent: t('Files you can fetch from the PC') });
const list = el('ul', { className: 'files-list', id: 'files-list' });
const refreshBtn = el('button', { type: 'button', textContent: t('Refresh') });
const closeBtn = el('button', { type: 'button', textContent: t('Close') });
const note = el('p', { className: 'hint', id: 'files-note' });
const fetchBox = el('div', { className: 'files-fetch' }, listTitle, list, refreshBtn);
dialog.append(title, note, sendBox, transfers, fetchBox, el('div', { className: 'actions' }, closeBtn));
document.body.append(dialog);

// One transfer's line: its name, a progress bar, what happened, and Cancel while it runs.
function transferRow(label, onCancel) {
  const bar = el('progress', { max: 1, value: 0 });
  const state = el('span', { className: 'files-state' });
  const cancel = el('button', { type: 'button', textContent: t('Cancel') });
  cancel.addEventListener('click', onCancel);
  const row = el('li', {}, el('span', { className: 'files-name', textContent: label }), bar, state, cancel);
  transfers.prepend(row);
  return {
    progress(done, total) { bar.max = total || 1; bar.value = total ? done : 1; state.textContent = `${bytes(done)} / ${bytes(total)}`; },
    note(text) { state.textContent = text; },
    end(text, kind) { state.textContent = text; row.dataset.kind = kind; cancel.remove(); if (kind === 'ok') bar.value = bar.max; },
  };
}

function failure(status, body) {
  return body?.error?.message || t('The gateway answered {status}.', { status });
}

// A name of our own for each upload, so that after a dropped connection the gateway and the
// PC know which part file to go on with (gateway/api/files.py: resumable uploads).
function uploadId() {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

//: Tries after a dropped connection before the upload is given up, and the pause before each.
const RESUME_TRIES = 5;
const RESUME_PAUSE_MS = 2000;

export function upload(file) {
  const id = uploadId();
  const base = openBtn.dataset.files;
  const named = `name=${encodeURIComponent(file.name)}`;
  let xhr = null;
  let cancelled = false;
  let tries = 0;
  // What reached the PC is dropped there (else its agent sweeps it a day later); asked again
  // while the PC still lets go of the transfer just cut.
  async function discard() {
    for (let i = 0; i < RESUME_TRIES * 2; i += 1) {
      try {
        const r = await fetch(`${base}/uploads/${id}?${named}`, { method: 'DELETE', credentials: 'same-origin', headers: { 'X-CSRFToken': csrf } });
        if (r.ok || r.status === 404 || r.status === 400) return;
      } catch { /* the gateway is away: try again */ }
      await new Promise((done) => { setTimeout(done, RESUME_PAUSE_MS / 2); });
    }
  }
  const row = transferRow(file.name, () => {
    cancelled = true;
    if (xhr) xhr.abort();
    discard();
  });
  if (file.size > maxBytes) {
    row.end(t('Too large: at most {max}.', { max: bytes(maxBytes) }), 'error');
    events().push({ type: 'file', op: 'upload', name: file.name, outcome: 'too_large' });
    return;
  }

  // After a dropped connection: ask how far the PC got, then send the rest from there.
  async function resume() {
    tries += 1;
    if (cancelled) return;
    if (tries > RESUME_TRIES) {
      row.end(t('The connection to the gateway was lost.'), 'error');
      events().push({ type: 'file', op: 'upload', name: file.name, outcome: 'lost' });
      return;
    }
    await new Promise((done) => { setTimeout(done, RESUME_PAUSE_MS); });
    if (cancelled) return;
    let offset = 0;
    try {
      const r = await fetch(`${base}/uploads/${id}?${named}`, { credentials: 'same-origin', cache: 'no-store' });
      if (!r.ok) { resume(); return; }   // the PC still lets go of the broken transfer, or is away
      offset = (await r.json()).upload.offset;
    } catch { resume(); return; }
    events().push({ type: 'file', op: 'upload', name: file.name, outcome: 'resuming', offset });
    send(offset);
  }

  function send(offset) {
    xhr = new XMLHttpRequest();
    xhr.open('POST', `${base}?${named}&upload=${id}&offset=${offset}`);
    xhr.setRequestHeader('X-CSRFToken', csrf);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.upload.addEventListener('progress', (e) => row.progress(offset + e.loaded, file.size));
    xhr.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
      if (xhr.status === 201) {
        row.end(t('Saved on the PC as {name}', { name: body.file.name }), 'ok');
        events().push({ type: 'file', op: 'upload', name: body.file.name, outcome: 'ok' });
        refresh();
      } else if (body?.error?.code === 'incomplete' && tries < RESUME_TRIES) {
        resume();   // the PC has less than we thought: ask again
      } else {
        row.end(failure(xhr.status, body), 'error');
        events().push({ type: 'file', op: 'upload', name: file.name, outcome: body?.error?.code || xhr.status });
      }
    });
    xhr.addEventListener('abort', () => {
      row.end(t('Cancelled'), 'cancelled');
      events().push({ type: 'file', op: 'upload', name: file.name, outcome: 'cancelled' });
    });
    xhr.addEventListener('error', () => {
      row.note(t('Connection lost: resuming…'));
      resume();
    });
    row.progress(offset, file.size);
    xhr.send(offset ? file.slice(offset) : file);
  }

  send(0);
}

export async function download(entry) {
  const controller = new AbortController();
  const row = transferRow(entry.name, () => controller.abort());
  const url = `${openBtn.dataset.files}/content?folder=${entry.folder}&name=${encodeURIComponent(entry.name)}`;
  try {
    const r = await fetch(url, { credentials: 'same-origin', signal: controller.signal });
    if (!r.ok) {
      const body = await r.json().catch(() => null);
      row.end(failure(r.status, body), 'error');
      events().push({ type: 'file', op: 'download', name: entry.name, outcome: body?.error?.code || r.status });
      return;
    }
    const total = Number(r.headers.get('Content-Length')) || entry.size;
    const reader = r.body.getReader();
    const parts = [];
    let done = 0;
    row.progress(0, total);
    for (;;) {
      const { value, done: finished } = await reader.read();
      if (finished) break;
      parts.push(value);
      done += value.length;
      row.progress(done, total);
    }
    if (done !== total) throw new Error(t('The file arrived incomplete.'));
    const link = el('a', { href: URL.createObjectURL(new Blob(parts)), download: entry.name });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    row.end(t('Downloaded'), 'ok');
    events().push({ type: 'file', op: 'download', name: entry.name, outcome: 'ok' });
  } catch (err) {
    const cancelled = controller.signal.aborted;
    row.end(cancelled ? t('Cancelled') : err.message || t('The connection to the gateway was lost.'),
      cancelled ? 'cancelled' : 'error');
    events().push({ type: 'file', op: 'download', name: entry.name, outcome: cancelled ? 'cancelled' : 'error' });
  }
}

async function refresh() {
  let body = null;
  let status = 0;
  try {
    const r = await fetch(openBtn.dataset.files, { credentials: 'same-origin', cache: 'no-store' });
    status = r.status;
    body = await r.json().catch(() => null);
  } catch { /* status 0: said below */ }
  list.replaceChildren();
  if (!body || status !== 200) {
    note.textContent = failure(status, body);
    return;
  }
  policy = body.policy;
  maxBytes = body.max_bytes;
  sendBox.hidden = !(policy === 'both' || policy === 'upload');
  fetchBox.hidden = !(policy === 'both' || policy === 'download');
  note.textContent = t('Files of at most {max}.', { max: bytes(maxBytes) });
  for (const entry of body.files) {
    const get = el('button', { type: 'button', textContent: t('Download') });
    get.addEventListener('click', () => download(entry));
    list.append(el('li', {}, el('span', { className: 'files-name', textContent: entry.name }),
      el('span', { className: 'files-size', textContent: bytes(entry.size) }),
      el('span', { className: 'files-folder', textContent: body.folders[entry.folder] || '' }), get));
  }
  if (!body.files.length && !fetchBox.hidden) list.append(el('li', { textContent: t('No files to fetch.') }));
  events().push({ type: 'files-listed', count: body.files.length });
}

function open() {
  if (!dialog.open) dialog.show();  // not modal: the desktop stays usable, and a drop target
  refresh();
}

openBtn.addEventListener('click', () => (dialog.open ? dialog.close() : open()));
closeBtn.addEventListener('click', () => dialog.close());
refreshBtn.addEventListener('click', refresh);
picker.addEventListener('change', () => {
  for (const file of picker.files) upload(file);
  picker.value = '';
});

// Drag and drop onto the desktop (or the panel): every file dropped is sent.
for (const target of [screenEl, dialog]) {
  target.addEventListener('dragover', (e) => {
    if (Array.from(e.dataTransfer?.types || []).includes('Files')) e.preventDefault();
  });
  target.addEventListener('drop', (e) => {
    const dropped = Array.from(e.dataTransfer?.files || []);
    if (!dropped.length) return;
    e.preventDefault();
    open();
    for (const file of dropped) upload(file);
  });
}
openBtn.setAttribute('aria-controls', 'files');
openBtn.hidden = false;
