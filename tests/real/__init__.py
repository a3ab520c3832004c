"""Real OpenStack clouds on loopback for the real-cloud test tier (see README.md)."""
