// The viewer's toolbar around the desktop: the "More" menu that holds the less-used buttons on a
// small screen (style.css shows them inline on a wide one), and, in full screen, a toolbar that
// slides away so the desktop has the whole screen and comes back when the pointer reaches the top
// edge, on a tap at the top, on the "Show the toolbar" tab, or when focus moves into it (as in
// Guacamole and Chrome Remote Desktop).
const EDGE_PX = 4;             // the pointer at the top edge
const TOUCH_EDGE_PX = 24;      // a finger is less precise
const HIDE_MS = 1500;          // after the pointer leaves it
const TOUCH_HIDE_MS = 4000;    // after a tap brought it back

export function toolbarChrome({ events }) {
  const $ = (id) => document.getElementById(id);
  const shell = $('shell');
  const toolbar = $('toolbar');
  const moreBtn = $('more');
  const more = $('toolbar-more');
  const reveal = $('toolbar-reveal');
  let timer = null;

  // --- the More menu (a disclosure: aria-expanded on its button)
  function setMore(open) {
    moreBtn.setAttribute('aria-expanded', String(open));
    more.classList.toggle('open', open);
  }
  moreBtn.addEventListener('click', () => setMore(moreBtn.getAttribute('aria-expanded') !== 'true'));
  more.addEventListener('click', (e) => {
    if (e.target.closest('button')) setMore(false);   // a button chosen: the menu's job is done
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && moreBtn.getAttribute('aria-expanded') === 'true') { setMore(false); moreBtn.focus(); }
  });
  document.addEventListener('pointerdown', (e) => {
    if (!toolbar.contains(e.target)) setMore(false);
  }, true);

  // --- full screen: the toolbar away and back
  const fullscreen = () => shell.classList.contains('fullscreen');
  // In use: under the pointer, keyboard focus in it (a clicked button keeps focus, but not
  // :focus-visible), or its menu open.
  const busy = () => toolbar.matches(':hover') || Boolean(toolbar.querySelector(':focus-visible'))
    || moreBtn.getAttribute('aria-expanded') === 'true';

  function away() {
    clearTimeout(timer);
    if (!fullscreen() || busy()) return;
    shell.classList.add('toolbar-away');
    reveal.hidden = false;
    events.push({ type: 'toolbar', shown: false });
  }
  function back(hideAfter = 0) {
    clearTimeout(timer);
    if (shell.classList.contains('toolbar-away')) events.push({ type: 'toolbar', shown: true });
    shell.classList.remove('toolbar-away');
    reveal.hidden = true;
    if (hideAfter) timer = setTimeout(away, hideAfter);
  }

  document.addEventListener('fullscreenchange', () => {
    const on = Boolean(document.fullscreenElement);
    shell.classList.toggle('fullscreen', on);
    if (on) { back(HIDE_MS); } else { back(); setMore(false); }
  });
  // capture: noVNC stops pointer events at its canvas
  document.addEventListener('mousemove', (e) => {
    if (fullscreen() && e.clientY <= EDGE_PX) back();
  }, { capture: true, passive: true });
  document.addEventListener('touchstart', (e) => {
    if (fullscreen() && e.touches[0] && e.touches[0].clientY <= TOUCH_EDGE_PX) back(TOUCH_HIDE_MS);
  }, { capture: true, passive: true });
  toolbar.addEventListener('mouseleave', () => { if (fullscreen()) timer = setTimeout(away, HIDE_MS); });
  toolbar.addEventListener('mouseenter', () => clearTimeout(timer));
  toolbar.addEventListener('focusin', () => back());
  toolbar.addEventListener('focusout', () => { if (fullscreen()) timer = setTimeout(away, HIDE_MS); });
  reveal.addEventListener('click', () => {
    back(TOUCH_HIDE_MS);
    (moreBtn.offsetParent ? moreBtn : $('fullscreen')).focus();   // the More button shows on a small screen only
  });

  return { back };
}
