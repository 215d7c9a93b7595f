// How times and notes read on screen.

const REPEATS = { daily: 'every day', weekly: 'every week', monthly: 'every month' };
// Made on first use: building a DateTimeFormat loads the locale's data, about 25 ms of a phone's main thread, which
// the start of the app must not pay when no note on screen has a reminder.
let when = null;

export function formatTime(iso) {
  when ??= new Intl.DateTimeFormat(undefined, {
    weekday: 'short', day: 'numeric', month: 'short', hour: 'numeric', minute: '2-digit',
  });
  return when.format(new Date(iso));
}

export const isDue = (reminder, now = Date.now()) => Boolean(reminder && !reminder.done && Date.parse(reminder.at) <= now);

/** "Fri 28 Nov, 9:00 AM, every day" or "Due since …": a note with a reminder always shows its time. */
export function describeReminder(reminder) {
  if (!reminder) return '';
  const repeat = REPEATS[reminder.repeat] ? `, ${REPEATS[reminder.repeat]}` : '';
  if (reminder.done) return `Reminder done (${formatTime(reminder.at)})`;
  const prefix = isDue(reminder) ? 'Due since' : 'Reminder';
  return `${prefix} ${formatTime(reminder.at)}${repeat}`;
}

/** The heading of a note in the list: its title, or else its first line. */
export function headline(note) {
  const title = note.title.trim();
  if (title) return title;
  return note.body.trim().split('\n', 1)[0] || 'Empty note';
}

/** The text under the headline: the body without the line already shown. */
export function snippet(note) {
  const body = note.body.trim();
  const rest = note.title.trim() ? body : body.split('\n').slice(1).join(' ');
  return rest.replace(/\s+/g, ' ').slice(0, 140);
}
