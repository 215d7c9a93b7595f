"""Web Push and reminders: everything the server does to put a notification on a user's device.

    guard.py        SSRF guard for push endpoints: checked at subscribe and before every send
    transport.py    a lean HTTP/1.1 keep-alive transport: connects to the checked address, bounded per push service
                    and in all
    http1.py        its message framing: request bytes, strict and bounded response parsing, errors
    webpush.py      the only module that imports `webpush`: encrypt, VAPID JWT, send with retries and backoff
    retries.py      what an answer means, backoff, and the reminder and test-message profiles
    vapid.py        VAPID keys: from settings, or made once in the data directory
    limits.py       per-user limits: messages in flight at once, and a rate for test messages
    subscriptions.py  storing subscriptions, and the per-device and per-user caps
    payloads.py     what a message says, and the app address a notification opens
    service.py      PushService (keys, guard, sender, limits; on `app.state.push`) and the test message
    failures.py     the fixed categories a failed message records (never the endpoint's answer)
    deliveries.py   the delivery record: what happened to each message
    occurrences.py  the scheduler's queries: claim, load, finish due reminder occurrences
    scheduler.py    the reminder scheduler task and the lifespan that starts push and the scheduler

The tables are in server/models/push.py, with every other model, where Alembic reads them; the HTTP routes are in
server/routes/push.py, a thin controller over subscriptions.py, service.py and deliveries.py.
"""
