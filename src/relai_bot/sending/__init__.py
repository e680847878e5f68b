"""Sending to residents through a provider: the contract between the channels and the outbox."""
