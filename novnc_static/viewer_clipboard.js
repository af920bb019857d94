// The clipboard without the Paste dialog, where the browser allows it (Chromium's asynchronous
// clipboard, in a secure context, with the person's permission): text copied on the PC lands on
// this computer's clipboard, and text copied here reaches the PC's clipboard when the person
// comes back to the desktop (the window or the screen gets focus) or pastes on the page. Reading is only tried once
// the permission is granted, so nobody is asked on every click; the dialog stays the way
// otherwise. The last text either way is remembered so that nothing bounces back and forth.
const available = () => window.isSecureContext && navigator.clipboard
  && typeof navigator.clipboard.readText === 'function';

async function allowed(name) {
  try { return (await navigator.permissions.query({ name })).state === 'granted'; } catch { return false; }
}

/** rfb() is the live noVNC session or null. */
export function localClipboard({ rfb, events, screen }) {
  let last = null;    // the text both clipboards hold as far as we know

  async function toPC() {
    const r = rfb();
    if (!r || r.viewOnly || !available() || !(await allowed('clipboard-read'))) return;
    let text;
    try { text = await navigator.clipboard.readText(); } catch { return; }   // not focused, or refused
    if (!text || text === last) return;
    last = text;
    r.clipboardPasteFrom(text);
    events.push({ type: 'clipboard-to-pc', length: text.length });
  }

  // A paste on the page itself (outside the text fields, whose paste is their own): no
  // permission needed, the browser hands the text over with the event.
  document.addEventListener('paste', (e) => {
    const r = rfb();
    if (!r || r.viewOnly || e.target.closest?.('input, textarea, select')) return;
    const text = e.clipboardData?.getData('text/plain');
    if (!text) return;
    e.preventDefault();
    last = text;
    r.clipboardPasteFrom(text);
    events.push({ type: 'clipboard-to-pc', length: text.length, paste: true });
  });
  window.addEventListener('focus', toPC);
  screen.addEventListener('focusin', toPC);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') toPC(); });

  return {
    /** Text copied on the PC (noVNC's clipboard event). */
    async fromPC(text) {
      if (!text || text === last) return;
      last = text;
      if (!available() || typeof navigator.clipboard.writeText !== 'function') return;
      try {
        await navigator.clipboard.writeText(text);
        events.push({ type: 'clipboard-from-pc', length: text.length });
      } catch { /* not allowed or not focused: the Paste dialog has it */ }
    },
    /** Text the person sent through the dialog: already on the PC. */
    sent(text) { last = text; },
  };
}
