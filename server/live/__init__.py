"""Live updates: who is listening in this process, and how word of a change reaches every process.

- hub.py: the open event streams of this process, by user and device; caps per device and per process; a device that
  ended (sign-out, revocation) is closed at once and refused for a while.
- relay.py: PostgreSQL only: one LISTEN/NOTIFY channel for the whole database, the user id in each message, on one
  dedicated connection per process (it also publishes), made again when lost.
- server/services/events.py wires both into the app and writes the stream itself.
"""
