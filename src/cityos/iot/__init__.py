"""IoT ingestion (a built-in IoT Agent): device provisioning with per-device credentials,
MQTT and HTTP south-bound ingestion (FIWARE IoT Agent topics, JSON and UltraLight 2.0
payloads, optional HMAC-SHA256 signatures), and the public sensor registry. See docs/iot.md.
"""
