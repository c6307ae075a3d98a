"""Reports out: delivery reports and inbound messages pushed to customers from a durable outbox."""
