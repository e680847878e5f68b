"""The delivery engine at run time: the outbox worker, its rate limits, lane leadership
across instances, and the scheduler ticks (reminders, waitlist, advisers' digest, retention).

The rules live in services/ (outbox, reminders, quiet_hours, broadcasts, waitlist, retention); this
package runs them against the channels' `Sender`s.
"""
