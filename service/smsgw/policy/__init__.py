"""Account policy: credit, rate limits, per-recipient quota, opt-out, retention, usage."""
