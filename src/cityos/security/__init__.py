"""Platform security: who is calling (principals), security events, and the rest of §8."""
