// Small helpers for the admin pages; every page works without them.
// Times: shown in the reader's own time zone (the page prints UTC).
for (const t of document.querySelectorAll('time[datetime]')) {
  const d = new Date(t.getAttribute('datetime'));
  if (!Number.isNaN(d.getTime())) {
    t.title = t.textContent;
    t.textContent = d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
  }
}

// Copy buttons next to codes and commands.
for (const b of document.querySelectorAll('button[data-copy]')) {
  b.addEventListener('click', async () => {
    const text = document.getElementById(b.dataset.copy).textContent;
    try {
      await navigator.clipboard.writeText(text);
      b.textContent = 'Copied';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(document.getElementById(b.dataset.copy));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      b.textContent = 'Selected: press Ctrl+C';
    }
    setTimeout(() => { b.textContent = 'Copy'; }, 3000);
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
        out.textContent = `Enrolled and online: ${machine.status.message}.`;
        out.dataset.state = 'online';
        return true;
      }
      if (machine.enrolled_at) { out.textContent = 'Enrolled. Waiting for the agent to connect…'; out.dataset.state = 'enrolled'; }
    } catch { /* next tick */ }
    return false;
  };
  const timer = setInterval(async () => { if (await poll()) clearInterval(timer); }, 3000);
}
