// Ponte recording player: replays a recorded session's PC→viewer RFB stream through noVNC.
//
// The recording is what the viewer received, from the agent's ProtocolVersion on
// (docs/recording-format.md), so a noVNC RFB object fed those bytes through a channel
// object of our own (noVNC accepts one instead of a URL) draws the same screens. Its own
// messages (its handshake answers, update requests) go nowhere: the recording has the
// answers already. Seeking forward feeds the records up to the target at full speed;
// seeking back starts a fresh RFB and replays from the start (RFB's encodings carry
// state — zlib streams, palettes — so there is no starting mid-stream).
const el = document.getElementById('player');
const { default: RFB } = await import(el.dataset.novnc);
const { t } = await import('./i18n.js');

const playBtn = document.getElementById('play');
const speedSel = document.getElementById('speed');
const skipIdle = document.getElementById('skip-idle');
const seekBar = document.getElementById('seek');
const clock = document.getElementById('clock');
const statusEl = document.getElementById('player-status');
const screenEl = document.getElementById('replay-screen');
const marks = document.getElementById('marks');
const markLabels = document.getElementById('mark-labels');

const TICK_MS = 40;
const IDLE_MS = 2000;        // with "skip idle", a gap longer than this is jumped
const IDLE_LEAD_MS = 300;    // ...to this long before the next change
const FEED_BATCH = 64;       // records fed before checking that noVNC keeps up

// A turn of the event loop without setTimeout's 4 ms clamp (nested timers are clamped,
// which made a seek through thousands of records mostly waiting): a MessageChannel task.
const turn = (() => {
  const ch = new MessageChannel();
  const waiting = [];
  ch.port1.onmessage = () => waiting.shift()?.();
  return () => new Promise((resolve) => { waiting.push(resolve); ch.port2.postMessage(0); });
})();

class ReplayChannel {
  constructor() {
    this.binaryType = 'arraybuffer';
    this.protocol = '';
    this.readyState = 0;  // CONNECTING, until open()
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
  }
  send() { /* the player's RFB asks; the recording answered already */ }
  close() {
    if (this.readyState === 3) return;
    this.readyState = 3;
    setTimeout(() => this.onclose?.({ code: 1000, reason: '', wasClean: true }));
  }
  open() { this.readyState = 1; this.onopen?.(); }
  deliver(bytes) { if (this.readyState === 1) this.onmessage?.({ data: bytes }); }
}

function fmt(ms) {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

function setStatus(text) { statusEl.textContent = text; }

// The player's stream: records u32 ms, u8 direction, u32 length, bytes (big-endian).
function parse(buffer) {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const out = [];
  let pos = 0;
  while (pos + 9 <= buffer.byteLength) {
    const ms = view.getUint32(pos);
    const direction = view.getUint8(pos + 4);
    const n = view.getUint32(pos + 5);
    pos += 9;
    if (direction === 0) out.push({ ms, data: bytes.subarray(pos, pos + n) });
    pos += n;
  }
  return out;
}

// noVNC's Display draws each update into a back buffer and then "flips" the changed area to the
// visible canvas. Each flip snapshots the back buffer, so the next draw into it copies the whole
// buffer first (copy on write): replaying ten minutes of updates took 18 s in Chromium, 0.5–2 s
// with the flips held. While `display.holding`, flips are skipped (a queued one too) and the
// changed area keeps growing; the first flip after shows all of it at once.
function holdFlips(display) {
  const flip = display.flip.bind(display);
  display.holding = false;
  display.flip = (fromQueue) => {
    if (!display.holding) { flip(fromQueue); return; }
    if (display._renderQ.length !== 0 && !fromQueue) display._renderQPush({ type: 'flip' });  // keeps order
  };
}

function drawMarks(duration, idle) {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200].map((s) => s * 1000);
  const step = steps.find((s) => duration / s <= 10) || 3600000;
  marks.replaceChildren();
  markLabels.replaceChildren();
  for (let ms = 0; ms <= duration; ms += step) {
    const option = document.createElement('option');
    option.value = String(ms);
    marks.append(option);
    const label = document.createElement('span');
    label.textContent = fmt(ms);
    label.style.left = `${duration ? (100 * ms) / duration : 0}%`;
    markLabels.append(label);
  }
  // The idle periods (nothing changed on screen), shaded under the seek bar: what "skip idle" jumps.
  for (const [from, to] of idle || []) {
    const span = document.createElement('i');
    span.className = 'idle';
    span.style.left = `${(100 * from) / duration}%`;
    span.style.width = `${(100 * (to - from)) / duration}%`;
    markLabels.append(span);
  }
}

class Player {
  constructor(records, duration) {
    this.records = records;
    this.duration = duration;
    this.now = 0;          // ms into the recording shown on screen
    this.pos = 0;          // next record to feed
    this.playing = false;
    this.rfb = null;
    this.channel = null;
    this.timer = null;
    this.lastSeekMs = 0;   // how long the last seek took (read by the tests)
    this.skipped = 0;      // idle periods jumped
  }

  /** Loaded and able to seek (the RFB handshake plays as the first records are fed). */
  get ready() { return !!this.rfb; }

  async restart() {
    if (this.rfb) {
      this.rfb.disconnect();
      screenEl.replaceChildren();
    }
    this.pos = 0;
    this.now = 0;
    this.connected = false;
    const channel = new ReplayChannel();
    const rfb = new RFB(screenEl, channel, { shared: true });
    rfb.viewOnly = true;
    rfb.scaleViewport = true;
    rfb.addEventListener('connect', () => { this.connected = true; });
    holdFlips(rfb._display);
    this.rfb = rfb;
    this.channel = channel;
    await new Promise((resolve) => setTimeout(resolve));
    channel.open();
  }

  // Feed every record up to `ms`; yields while noVNC is still drawing (async image decodes).
  // The screen is shown once, at the end (see holdFlips).
  async feedTo(ms) {
    const display = this.rfb._display;
    display.holding = true;
    try {
      await this.feedRecords(ms);
    } finally {
      display.holding = false;
      display.flip();
    }
    this.now = Math.max(this.now, ms);
  }

  async feedRecords(ms) {
    let fed = 0;
    while (this.pos < this.records.length && this.records[this.pos].ms <= ms) {
      this.channel.deliver(this.records[this.pos].data);
      this.pos += 1;
      fed += 1;
      // noVNC's private flag: a FramebufferUpdate waits for images; let it finish first.
      if (fed % FEED_BATCH === 0 || this.rfb._flushing) await turn();
    }
  }

  async seek(ms) {
    const began = performance.now();
    const wasPlaying = this.playing;
    this.pause();
    ms = Math.max(0, Math.min(ms, this.duration));
    setStatus(t('Seeking…'));
    if (ms < this.now || !this.rfb) await this.restart();
    await this.feedTo(ms);
    this.now = ms;
    this.lastSeekMs = performance.now() - began;
    this.show();
    setStatus(t('Paused'));
    if (wasPlaying) this.play();
  }

  play() {
    if (this.playing) return;
    if (this.now >= this.duration) { this.seek(0).then(() => this.play()); return; }
    this.playing = true;
    playBtn.textContent = t('Pause');
    setStatus(t('Playing'));
    let last = performance.now();
    let busy = false;
    this.timer = setInterval(async () => {
      if (busy) return;
      busy = true;
      const tick = performance.now();
      let target = this.now + (tick - last) * Number(speedSel.value);
      last = tick;
      const next = this.records[this.pos];
      if (skipIdle.checked && next && next.ms - target > IDLE_MS) {
        target = next.ms - IDLE_LEAD_MS;  // nothing changes on screen until then: jump, just short of it
        this.skipped += 1;
      }
      await this.feedTo(Math.min(target, this.duration));
      this.show();
      busy = false;
      if (this.now >= this.duration) { this.pause(); setStatus(t('Finished')); }
    }, TICK_MS);
  }

  pause() {
    if (!this.playing) return;
    this.playing = false;
    clearInterval(this.timer);
    playBtn.textContent = t('Play');
    setStatus(t('Paused'));
  }

  show() {
    seekBar.value = String(Math.round(this.now));
    clock.textContent = `${fmt(this.now)} / ${fmt(this.duration)}`;
  }
}

async function load() {
  const began = performance.now();
  const summary = await fetch(el.dataset.summary, { credentials: 'same-origin' });
  if (!summary.ok) {
    const body = await summary.json().catch(() => ({}));
    setStatus(body.error?.message || t('The gateway answered {status}.', { status: summary.status }));
    return;
  }
  const info = await summary.json();
  setStatus(t('Loading…'));
  const data = await fetch(el.dataset.records, { credentials: 'same-origin' });
  if (!data.ok) {
    setStatus(t('The gateway answered {status}.', { status: data.status }));
    return;
  }
  const records = parse(await data.arrayBuffer());
  const player = new Player(records, info.duration_ms);
  window.ponte = { player, summary: info };
  seekBar.max = String(info.duration_ms);
  seekBar.disabled = false;
  playBtn.disabled = false;
  drawMarks(info.duration_ms, info.idle);
  await player.restart();
  await player.feedTo(0);
  window.ponte.loadMs = performance.now() - began;  // fetching and parsing the whole stream (tests read it)
  player.show();
  setStatus(t('Paused'));
  playBtn.addEventListener('click', () => (player.playing ? player.pause() : player.play()));
  seekBar.addEventListener('change', () => player.seek(Number(seekBar.value)));
}

load();
