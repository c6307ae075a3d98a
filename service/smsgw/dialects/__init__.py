"""One room per vendor interface: each parses its vendor's requests into core types and renders the core's answers in
its vendor's words. No business rule lives here, and no dialect imports another."""
