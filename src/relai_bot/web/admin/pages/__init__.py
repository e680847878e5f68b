"""Back-office pages: thin functions over services (accounts, audit), one module per subject."""
