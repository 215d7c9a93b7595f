// Live updates: GET /api/events (server-sent events) while the page is visible; each `sync` event triggers a sync.
// Read with fetch() rather than EventSource so the token travels in the Authorization header and never in a URL
// (URLs end up in proxy logs). A 404 means this server has no live updates: the minute-by-minute sync remains.
const RETRY_MIN = 2000;
const RETRY_MAX = 60000;

let controller = null;
let unsupported = false;

/** Reads one connection until it ends; calls onEvent() on connecting (to catch up) and on every sync event. */
async function listen(token, onEvent, signal) {
  const response = await fetch('/api/events', {
    headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' },
    cache: 'no-store',
    signal,
  });
  if (response.status === 404) {
    unsupported = true;
    return;
  }
  if (!response.ok || !response.body) throw new Error(`events: HTTP ${response.status}`);
  onEvent();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      if (/^event:\s*sync\s*$/m.test(buffer.slice(0, end))) onEvent();
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
    }
  }
}

const online = () => new Promise((resolve) => window.addEventListener('online', resolve, { once: true }));
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function loop(token, onEvent, signal) {
  let delay = RETRY_MIN;
  while (!signal.aborted && !unsupported) {
    // Offline, wait for the connection rather than failing on a timer.
    if (!navigator.onLine) {
      await online();
      continue;
    }
    try {
      await listen(token, onEvent, signal);
      delay = RETRY_MIN;
    } catch {
      // A dropped stream or a server restart: try again after the backoff.
    }
    if (signal.aborted || unsupported) return;
    await pause(delay);
    delay = Math.min(RETRY_MAX, delay * 2);
  }
}

/** Keeps a stream open while the page is visible. */
export function startLive(token, onEvent) {
  const follow = () => {
    controller?.abort();
    controller = null;
    if (document.visibilityState !== 'visible' || unsupported) return;
    controller = new AbortController();
    loop(token, onEvent, controller.signal);
  };
  document.addEventListener('visibilitychange', follow);
  follow();
  return () => {
    document.removeEventListener('visibilitychange', follow);
    controller?.abort();
  };
}
