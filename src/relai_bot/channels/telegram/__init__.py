"""The Telegram channel (python-telegram-bot): one package for the provider's protocol."""
