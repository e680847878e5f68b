"""The SMS channel (Twilio): one package for the provider's protocol."""
