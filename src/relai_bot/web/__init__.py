"""HTTP: the app factory (health, later webhooks and the back-office)."""
