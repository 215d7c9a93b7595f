// `Not synced`: the open note holds a change the server refused to take (a text over a limit). The device keeps its
// text; this says why, and offers `Copy text` (to keep it somewhere else) and `Discard change` (take the server's
// version instead). Editing the note sends it again: if the server takes it, the mark goes.
import { discard } from '../store.js';
import { byId } from './dom.js';
import { toast } from './toast.js';

/** The text of the refused fields, as a person would paste it elsewhere. */
export function refusedText(note) {
  const { keys } = note.refused;
  const parts = [];
  if (keys.includes('title') && note.title) parts.push(note.title);
  if (keys.includes('body') && note.body) parts.push(note.body);
  if (keys.includes('tags') && note.tags.length) parts.push(note.tags.map((tag) => `#${tag}`).join(' '));
  return (parts.length ? parts : [note.title, note.body].filter(Boolean)).join('\n\n');
}

export function mountRefused({ note, flush, onGone }) {
  const panel = byId('refused');
  const reason = byId('refused-reason');

  byId('refused-copy').addEventListener('click', async () => {
    const current = note();
    if (!current?.refused) return;
    try {
      await navigator.clipboard.writeText(refusedText(current));
      toast('Copied.');
    } catch {
      byId('body').select();
      toast('Could not copy: the text is selected, copy it from there.');
    }
  });

  byId('refused-discard').addEventListener('click', async () => {
    await flush();
    const current = note();
    if (!current?.refused) return;
    const left = await discard(current.id);
    toast(left ? 'Change discarded: this note is as the server has it.' : 'Change discarded.');
    if (!left) onGone();
  });

  return {
    render(current) {
      panel.hidden = !current.refused;
      const text = current.refused ? `Not synced: ${current.refused.reason}` : '';
      if (reason.textContent !== text) reason.textContent = text;
    },
  };
}
