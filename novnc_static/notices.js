// The session's notices above the screen: the idle timeout or the maximum session length
// drawing near (with a countdown), and who else is on this PC (an admin watching or in control).
//
// Polled, every POLL_MS while a session runs and never otherwise: the session's WebSocket carries
// the PC's RFB byte stream verbatim, where the gateway cannot slip in messages of its own without
// parsing and rewriting RFB on the bulk path; and the poll is answered from Redis by any node
// (GET /api/v1/sessions/<id>/notices), not only the one relaying the session.
// Names come from other people: only ever textContent.
import { t } from './i18n.js';

const POLL_MS = 5000;
const BACKGROUND = { 'X-Ponte-Background': '1' };  // polling does not keep a login alive

function clock(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return s >= 60 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}` : t('{seconds} s', { seconds: s });
}

/** A banner in `el` fed from `urlTemplate` (its __ID__ replaced by the session id). */
export function noticeBanner(el, urlTemplate) {
  let session = null;
  let poller = null;
  let ticker = null;
  let latest = null;    // the last answer, its deadlines moved to this page's clock
  let generation = 0;   // answers to an earlier session's polls are dropped

  function lines() {
    if (!latest) return [];
    const now = Date.now() / 1000;
    const out = [];
    if (latest.ends_at) {
      out.push(t('This session reaches its maximum length in {time}.', { time: clock(latest.ends_at - now) }));
    }
    if (latest.idle_ends_at) {
      out.push(t('No input for a while: this session ends in {time} unless you use it.',
        { time: clock(latest.idle_ends_at - now) }));
    }
    for (const w of latest.watchers || []) {
      out.push(w.control ? t('{person} has control', { person: w.user }) : t('{person} is watching', { person: w.user }));
    }
    return out;
  }

  function render() {
    const text = lines();
    el.replaceChildren(...text.map((line) => {
      const p = document.createElement('p');
      p.textContent = line;
      return p;
    }));
    el.hidden = text.length === 0;
    if (window.ponte) window.ponte.notices = text;   // read by the browser tests
  }

  async function poll() {
    const mine = generation;
    try {
      const r = await fetch(urlTemplate.replace('__ID__', encodeURIComponent(session)),
        { credentials: 'same-origin', cache: 'no-store', headers: BACKGROUND });
      if (mine !== generation) return;
      if (!r.ok) { latest = null; render(); return; }
      const body = await r.json();
      // The gateway's deadlines are on its clock: keep the distance, count down on ours.
      const skew = Date.now() / 1000 - body.now;
      latest = {
        ends_at: body.ends_at ? body.ends_at + skew : null,
        idle_ends_at: body.idle_ends_at ? body.idle_ends_at + skew : null,
        watchers: body.watchers || [],
      };
      render();
    } catch { /* the next poll */ }
  }

  return {
    start(id) {
      this.stop();
      session = id;
      poll();
      poller = setInterval(poll, POLL_MS);
      ticker = setInterval(render, 1000);   // the countdown, between polls
    },
    stop() {
      generation += 1;
      clearInterval(poller);
      clearInterval(ticker);
      poller = ticker = null;
      latest = null;
      render();
    },
  };
}
