// Short messages at the bottom of the screen, with at most one action (Undo, Update).
import { byId, h } from './dom.js';

const SHOWN_MS = 6000;

/** Shows a message; with `action`, a button that runs `onAction`. `sticky` keeps it until acted on. */
export function toast(message, { action, onAction, sticky = false } = {}) {
  const region = byId('toasts');
  const item = h('div', { class: 'toast' }, h('span', {}, message));
  const dismiss = () => item.remove();
  if (action) {
    item.append(h('button', {
      type: 'button',
      class: 'toast-action',
      onclick: () => {
        dismiss();
        onAction();
      },
    }, action));
  }
  region.append(item);
  if (!sticky) setTimeout(dismiss, SHOWN_MS);
  return dismiss;
}
