"""A network in user space: a shaping TCP proxy (delay, jitter, rate, idle cuts, buffering,
stripped Upgrade) for comparing the protocols over something other than loopback."""
