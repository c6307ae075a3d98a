"""Pure domain rules: numbers, encodings, validity and scheduling, statuses. No I/O here."""
