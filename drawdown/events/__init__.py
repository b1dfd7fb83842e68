"""Events (E-1..E-3): every service's transactional outbox and the EventService serving it."""
