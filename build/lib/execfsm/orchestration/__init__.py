"""
The collaborators behind the `ExecutionOrchestrator` façade:

- `intents.IntentRunner`: intents through the stages (submit, batch, resume, abandon), the
  write-ahead points, and the answers to a key seen before (duplicate or conflict);
- `events.EventProcessor`: venue events after the run (late answers, cancels), re-opening
  packed orders under their lock;
- `units.WorkUnits`: the units of work, staging what they end with and making it durable;
- `locks.StripedLocks`: the same idempotency key always takes the same lock.
"""
