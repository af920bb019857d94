// Touch screens: an on-screen keyboard button, and the gestures explained once.
// A phone shows its keyboard only for a focused text field, so the Keyboard button focuses a
// hidden one over the desktop (as noVNC's own app does) and every key typed there is sent to the
// PC and the field kept empty. noVNC's gestures (core/input/gesturehandler.js) do the rest: a
// tap clicks, a long press (or a two-finger tap) right-clicks, a two-finger drag scrolls; the
// hint says so once, and is not shown again once dismissed (localStorage).
const HINT_KEY = 'ponte.touchHintSeen';
// Keys a field reports by name rather than as text, and their X keysyms.
const NAMED = { Enter: 0xff0d, Backspace: 0xff08, Tab: 0xff09, Escape: 0xff1b, ArrowLeft: 0xff51, ArrowUp: 0xff52,
  ArrowRight: 0xff53, ArrowDown: 0xff54, Delete: 0xffff, Home: 0xff50, End: 0xff57 };
const TYPED = { insertLineBreak: 0xff0d, insertParagraph: 0xff0d, deleteContentBackward: 0xff08 };

export const touchDevice = () => window.matchMedia('(pointer: coarse)').matches || navigator.maxTouchPoints > 0;

/** rfb() is the live noVNC session or null; keysyms() resolves noVNC's keysym table. */
export function touchInput({ rfb, keysyms, events }) {
  const $ = (id) => document.getElementById(id);
  const button = $('keyboard');
  const field = $('touch-keys');
  const hint = $('touch-hint');

  function send(sym) {
    const r = rfb();
    if (!r || !sym) return;
    r.sendKey(sym, null);
    events.push({ type: 'touch-key', sym });
  }
  async function sendText(text) {
    const table = await keysyms();
    for (const ch of text) send(ch === '\n' ? 0xff0d : table.lookup(ch.codePointAt(0)));
  }

  button.addEventListener('click', () => {
    field.value = '';
    field.focus({ preventScroll: true });
    events.push({ type: 'keyboard-open' });
  });
  field.addEventListener('keydown', (e) => {
    if (NAMED[e.key]) { e.preventDefault(); send(NAMED[e.key]); }
  });
  // What the keyboard types (its own keys, predictions, accents): sent, then forgotten.
  field.addEventListener('beforeinput', (e) => {
    if (e.inputType === 'insertText' || e.inputType === 'insertReplacementText') {
      if (e.data) sendText(e.data);
    } else if (e.inputType === 'insertFromPaste') {
      const text = e.dataTransfer?.getData('text/plain');
      if (text) sendText(text);   // typed: a phone has no Ctrl+V to paste it there
    } else if (TYPED[e.inputType]) {
      send(TYPED[e.inputType]);
    }
    e.preventDefault();
  });
  // A keyboard that composes (it cannot be stopped beforehand): send what ended in the field.
  field.addEventListener('input', () => { if (field.value) { sendText(field.value); field.value = ''; } });

  $('touch-hint-close').addEventListener('click', () => {
    hint.hidden = true;
    try { localStorage.setItem(HINT_KEY, '1'); } catch { /* private mode: shown again next time */ }
  });

  return {
    /** A session that takes input (`input`): on a touch screen, the keyboard button and (once) the hint. */
    offer(input) {
      button.hidden = !(input && touchDevice());
      if (button.hidden) { hint.hidden = true; return; }
      let seen = false;
      try { seen = localStorage.getItem(HINT_KEY) === '1'; } catch { /* private mode */ }
      hint.hidden = seen;
    },
  };
}
