// Registers the service worker and offers "Update" when a new version waits. The page reloads only when the person
// asks, after their typing is saved: never a silent reload in the middle of a sentence.
import { toast } from './toast.js';

function watch(registration, offer) {
  if (registration.waiting && navigator.serviceWorker.controller) offer(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const worker = registration.installing;
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed' && navigator.serviceWorker.controller) offer(worker);
    });
  });
}

/** `beforeReload()` saves what is being typed; `onMessage(data)` hears the worker (notification taps). */
export async function registerWorker({ beforeReload, onMessage }) {
  if (!('serviceWorker' in navigator)) return null;
  let updating = false;
  navigator.serviceWorker.addEventListener('message', (event) => onMessage(event.data ?? {}));
  navigator.serviceWorker.addEventListener('controllerchange', async () => {
    if (!updating) return;
    await beforeReload();
    location.reload();
  });
  // After the load event: on a first visit, precaching every file must not compete with the page's own loading.
  if (document.readyState !== 'complete') await new Promise((resolve) => addEventListener('load', resolve, { once: true }));
  const registration = await navigator.serviceWorker.register('/sw.js');
  let offered = null;
  watch(registration, (worker) => {
    if (offered === worker) return;
    offered = worker;
    toast('A new version of KeepTabs is ready.', {
      action: 'Update',
      sticky: true,
      onAction: () => {
        updating = true;
        worker.postMessage({ type: 'skip-waiting' });
      },
    });
  });
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') registration.update().catch(() => undefined);
  });
  return registration;
}
