// What the viewer shows while no desktop does: one state at a time (connecting, offline, lost,
// ended…), said large in the middle of the screen area with its next action as a button, and the
// controls that need a live session (Paste, Ctrl+Alt+Del, Full screen, Files, Keyboard) disabled meanwhile.
// Short-lived words ("Sent Ctrl+Alt+Del") go to a toast that a change of state clears, so no
// stale message outlives the state it was about. Texts come from other people: textContent only.
import { t } from './i18n.js';

const TOAST_MS = 2500;
// The overlay's heading per state; 'connected' has none (the desktop shows).
const TITLES = {
  connecting: (m) => t('Connecting to {machine}…', { machine: m }),
  waking: () => t('Waking up the PC…'),
  offline: () => t('The PC is not available'),
  lost: () => t('Connection lost'),
  ended: () => t('Session ended'),
  stopped: () => t('Disconnected'),
  loggedout: () => t('You are logged out'),
  busy: () => t('The PC is in use'),
  failed: () => t('Cannot connect'),
};
// States that offer the way back to the PC list (the person may be done here).
const WAY_BACK = new Set(['offline', 'ended', 'stopped', 'busy', 'failed']);

export function viewerState({ machineName, events }) {
  const $ = (id) => document.getElementById(id);
  const shell = $('shell');
  const overlay = $('overlay');
  const title = $('overlay-title');
  const detail = $('overlay-detail');
  const toastEl = $('toast');
  const back = $('back-to-pcs');          // the person's page only: a guest has no PC list
  const live = ['paste-open', 'cad', 'fullscreen', 'files-open', 'keyboard'].map($);
  const fullBtn = $('fullscreen');
  let current = null;
  let toastTimer = null;

  const fullscreen = () => Boolean(document.fullscreenElement || document.webkitFullscreenElement);

  function controls() {
    for (const b of live) {
      // Full screen stays usable while in it: the way out must never be disabled.
      b.disabled = current !== 'connected' && !(b === fullBtn && fullscreen());
    }
  }

  function clearToast() { clearTimeout(toastTimer); toastEl.hidden = true; toastEl.textContent = ''; }

  return {
    get current() { return current; },
    /** Enter `state`; `text` is the overlay's sentence under the heading (why, what next). */
    set(state, text = '') {
      if (state !== current) clearToast();
      current = state;
      shell.dataset.state = state;
      overlay.hidden = state === 'connected';
      title.textContent = TITLES[state] ? TITLES[state](machineName) : '';
      // Not "Disconnected" over "Disconnected.": the sentence only when it adds to the heading.
      const bare = (words) => words.replace(/[.…]+$/, '').toLowerCase();
      detail.textContent = text && bare(title.textContent).startsWith(bare(text)) ? '' : text;
      if (back) back.hidden = !WAY_BACK.has(state);
      controls();
      events.push({ type: 'state', state });
    },
    /** The overlay's sentence alone (a countdown), the state unchanged. */
    detail(text) { detail.textContent = text; },
    /** A word that lasts a moment (feedback for an action), gone at the next state. */
    toast(text) {
      clearToast();
      toastEl.textContent = text;
      toastEl.hidden = false;
      toastTimer = setTimeout(clearToast, TOAST_MS);
    },
    controls,
  };
}
