"""Jobs: requests from messages, the durable inbox and outbox, and the runner."""
