"""Staff actions shared by the CLI, the back-office pages and a future Telegram /diffuser.

This layer sits with delivery/: it may use channels (the SMS composer, the Telegram rendering), the
conversation's renderer and the services, so that what staff preview is what a resident receives.
"""
