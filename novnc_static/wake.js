// Wake a sleeping PC through another PC on its network, then wait for its agent:
// waking → waiting for the PC → connecting. Shared by the portal tiles and the viewer.
// The gateway picks the neighbour and says how long to wait (its wake_timeout setting).
import { t } from './i18n.js';

const BACKGROUND = { 'X-Ponte-Background': '1' };
const POLL_MS = 2000;

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

async function machineNow(machinesUrl, id) {
  try {
    const r = await fetch(machinesUrl, { credentials: 'same-origin', cache: 'no-store', headers: BACKGROUND });
    if (!r.ok) return null;
    const { machines } = await r.json();
    return machines.find((m) => String(m.id) === String(id)) || null;
  } catch { return null; }
}

// onStep(step, text): step is 'waking', 'waiting', 'connecting' or 'failed'.
// Resolves true when the PC is online and can be opened, false otherwise (onStep said why).
export async function wakeAndWait({ wakeUrl, machinesUrl, id, csrf, onStep }) {
  onStep('waking', t('Waking up the PC…'));
  let body = {};
  let r;
  try {
    r = await fetch(wakeUrl, {
      method: 'POST', credentials: 'same-origin', body: '{}',
      headers: { 'X-CSRFToken': csrf, 'Content-Type': 'application/json' },
    });
    body = await r.json().catch(() => ({}));
  } catch {
    onStep('failed', t('Cannot reach the gateway right now; try again.'));
    return false;
  }
  if (r.status === 409 && body.error?.code === 'online') { onStep('connecting', t('Connecting…')); return true; }
  if (!r.ok) {
    onStep('failed', body.error?.message || t('The gateway answered {status}.', { status: r.status }));
    return false;
  }
  const timeout = Number(body.timeout) || 120;
  const deadline = Date.now() + timeout * 1000;
  while (Date.now() < deadline) {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    onStep('waiting', t('Waiting for the PC to start… ({left} s left)', { left }));
    await sleep(POLL_MS);
    const m = await machineNow(machinesUrl, id);
    if (m && m.state !== 'offline') {
      if (m.available) { onStep('connecting', t('Connecting…')); return true; }
      onStep('failed', m.message);   // it woke, but cannot be opened (e.g. its VNC server is down)
      return false;
    }
  }
  // One literal: the catalog's key (pybabel and the scripts' catalog test read whole literals only).
  const why = t('The PC did not wake up within {seconds} s. It may be unplugged, or Wake-on-LAN may be off in its settings: switch it on by hand, or ask your admin.', { seconds: Math.round(timeout) });
  onStep('failed', why);
  return false;
}
