// Refresh the machine tiles without a page reload.
const list = document.getElementById('machines');
const REFRESH_MS = 5000;

async function refresh() {
  try {
    const r = await fetch(list.dataset.refresh, { credentials: 'same-origin' });
    if (!r.ok) return;
    const { machines } = await r.json();
    for (const m of machines) {
      const tile = list.querySelector(`[data-machine="${m.id}"]`);
      if (!tile) continue;
      tile.className = `tile state-${m.state}`;
      tile.querySelector('.status').textContent = m.message;
      const open = tile.querySelector('.open');
      if (['offline', 'vnc_down', 'unknown'].includes(m.state)) open.setAttribute('aria-disabled', 'true');
      else open.removeAttribute('aria-disabled');
    }
  } catch { /* the next tick tries again */ }
}

setInterval(refresh, REFRESH_MS);
