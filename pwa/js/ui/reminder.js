// `Remind me`: quick choices (`Later today`, `Tomorrow morning`, `Next week`) or a time in `Remind at`, stored on the
// note through the outbox like any edit, so it can be set offline. While a reminder is pending the note offers
// `Done` and `Snooze 1 hour` (what the notification offers, for systems that show no notification actions).
import { enable } from '../push.js';
import { byId } from './dom.js';
import { describeReminder } from './format.js';

const HOUR = 3600 * 1000;

function atHour(days, hour) {
  const date = new Date();
  date.setDate(date.getDate() + days);
  date.setHours(hour, 0, 0, 0);
  return date;
}

export const CHOICES = {
  later: () => {
    const date = new Date(Date.now() + 3 * HOUR);
    date.setMinutes(Math.ceil(date.getMinutes() / 15) * 15, 0, 0);
    return date;
  },
  tomorrow: () => atHour(1, 9),
  // Next Monday at 9, a week ahead when today is Monday.
  week: () => atHour(((8 - new Date().getDay()) % 7) || 7, 9),
};

const pad = (n) => String(n).padStart(2, '0');
const localInput = (date) =>
  `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;

/** `note()` gives the open note, `save(changes)` edits it, `token()` the account token for push. */
export function mountReminder({ note, save, token }) {
  const toggle = byId('remind');
  const menu = byId('remind-menu');
  const field = byId('remind-at');
  const repeat = byId('remind-repeat');
  const banner = byId('reminder-banner');

  const close = () => {
    menu.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
  };

  function set(date) {
    // Asked inside the click, so the browser sees a user gesture; the reminder is stored whatever the answer.
    token().then((t) => t && enable(t)).catch(() => undefined);
    const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
    save({ reminder: { at: date.toISOString(), repeat: repeat.value, tz, done: false } });
    close();
  }

  toggle.addEventListener('click', () => {
    const opening = menu.hidden;
    menu.hidden = !opening;
    toggle.setAttribute('aria-expanded', String(opening));
    if (!opening) return;
    const current = note()?.reminder;
    field.value = localInput(current && !current.done ? new Date(current.at) : CHOICES.tomorrow());
    repeat.value = current?.repeat ?? 'none';
  });
  for (const button of menu.querySelectorAll('[data-when]')) {
    button.addEventListener('click', () => set(CHOICES[button.dataset.when]()));
  }
  byId('remind-set').addEventListener('click', () => {
    const date = new Date(field.value);
    if (Number.isNaN(date.getTime())) {
      field.focus();
      return;
    }
    set(date);
  });
  byId('remind-clear').addEventListener('click', () => {
    save({ reminder: null });
    close();
  });
  byId('reminder-done').addEventListener('click', () => save({ reminder: { ...note().reminder, done: true } }));
  byId('reminder-snooze').addEventListener('click', () => {
    save({ reminder: { ...note().reminder, at: new Date(Date.now() + HOUR).toISOString(), done: false } });
  });

  return {
    close,
    /** Shows the note's reminder, and its Done / Snooze buttons while it is pending. */
    render(current) {
      const reminder = current?.reminder;
      banner.hidden = !reminder;
      byId('reminder-text').textContent = describeReminder(reminder);
      byId('reminder-actions').hidden = !reminder || reminder.done;
      byId('remind-clear').hidden = !reminder;
    },
  };
}
