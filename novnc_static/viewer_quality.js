// How the session feels, in the viewer's toolbar. The gateway relays the screen without parsing
// it, so the frame rate and the encoding are counted here, where noVNC decodes them: every
// FramebufferUpdate it finishes, and the encoding of every rect it decodes. Every ~10 s they go
// to the gateway (POST /api/v1/sessions/<id>/quality, a background request), which answers with
// the session's figures — the round trip of each hop, measured by its WebSocket pings, and the
// bandwidth — and the grade (good / fair / poor: gateway/quality.py has the thresholds).
// The figures are shown on hover (title) and read by screen readers (hidden text).
import { t } from './i18n.js';

const FIRST_REPORT_MS = 3000;
const REPORT_MS = 10000;
// noVNC's encodings (core/encodings.js) as gateway/quality.py ENCODINGS names them.
const ENCODING_NAMES = new Map([[0, 'Raw'], [1, 'CopyRect'], [2, 'RRE'], [5, 'Hextile'], [6, 'Zlib'],
  [7, 'Tight'], [16, 'ZRLE'], [-260, 'TightPNG'], [21, 'JPEG'], [50, 'H.264']]);
const BACKGROUND = { 'X-Ponte-Background': '1' };

function words(q) {
  const ms = (v) => (v === null || v === undefined ? '—' : String(Math.round(v)));
  const parts = [t('Round trip: you ⇄ gateway {viewer} ms, gateway ⇄ PC {pc} ms',
    { viewer: ms(q.rtt_viewer_ms), pc: ms(q.rtt_agent_ms) })];
  if (q.fps !== null && q.fps !== undefined) {
    parts.push(q.encoding ? t('{fps} frames/s ({encoding})', { fps: q.fps, encoding: q.encoding })
      : t('{fps} frames/s', { fps: q.fps }));
  }
  parts.push(t('{down} kbit/s to you, {up} kbit/s from you',
    { down: ms(q.kbps_to_viewer), up: ms(q.kbps_from_viewer) }));
  return parts.join('; ');
}

const GRADE_WORDS = { good: () => t('Good connection'), fair: () => t('Fair connection'), poor: () => t('Poor connection') };

function show(el, q) {
  const label = q.grade ? GRADE_WORDS[q.grade]() : t('Measuring the connection…');
  const detail = words(q);
  el.hidden = false;
  el.dataset.grade = q.grade || '';
  el.title = detail;
  el.querySelector('.label').textContent = label;
  el.querySelector('.sr').textContent = `: ${detail}`;
}

/** Count what `rfb` decodes, report it for `session` to `url` (__ID__ replaced), show the answer in `el`. */
export function watchQuality(rfb, session, { url, csrf, el }) {
  let updates = 0;
  const rects = new Map();
  let since = performance.now();
  // This object's own methods, wrapped (not noVNC's prototype): a counter per finished update
  // and per decoded rect, nothing else on noVNC's path. Both return true once their work is done
  // (false: waiting for more data, called again).
  const fbu = rfb._framebufferUpdate;
  const dataRect = rfb._handleDataRect;
  if (typeof fbu !== 'function' || typeof dataRect !== 'function') return { stop() {} };
  rfb._framebufferUpdate = function framebufferUpdate() {
    const done = fbu.call(this);
    if (done) updates += 1;
    return done;
  };
  rfb._handleDataRect = function handleDataRect() {
    const encoding = this._FBU.encoding;
    const done = dataRect.call(this);
    if (done) rects.set(encoding, (rects.get(encoding) || 0) + 1);
    return done;
  };

  function dominant() {
    let best = null;
    for (const [encoding, n] of rects) if (ENCODING_NAMES.has(encoding) && (!best || n > best[1])) best = [encoding, n];
    return best ? ENCODING_NAMES.get(best[0]) : '';
  }

  let timer = null;
  let stopped = false;
  async function report() {
    const now = performance.now();
    const body = { updates: Math.min(updates, 100000), seconds: Math.min(600, Math.max(1, (now - since) / 1000)),
      encoding: dominant() };
    updates = 0;
    since = now;
    try {
      const r = await fetch(url.replace('__ID__', encodeURIComponent(session)), {
        method: 'POST', credentials: 'same-origin',
        headers: { ...BACKGROUND, 'X-CSRFToken': csrf, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (r.status === 404) { stop(); return; }   // the session ended
      if (!r.ok) return;                           // e.g. 429: next time
      const { quality } = await r.json();
      if (stopped) return;
      window.ponte.quality = quality;
      window.ponte.events.push({ type: 'quality', grade: quality.grade });
      show(el, quality);
    } catch { /* next time */ }
  }
  function stop() {
    stopped = true;
    clearTimeout(timer);
    clearInterval(timer);
  }
  timer = setTimeout(() => {
    if (stopped) return;
    report();
    timer = setInterval(report, REPORT_MS);
  }, FIRST_REPORT_MS);
  rfb.addEventListener('disconnect', () => { stop(); el.hidden = true; });
  return { stop };
}
