"""The back-office at /admin: server-rendered pages for staff (see README, "Back-office (/admin)")."""
