"""Durable notification delivery: change journal → matcher → outbox → HTTP/MQTT senders."""
