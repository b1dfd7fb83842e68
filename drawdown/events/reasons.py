"""The error reasons of the event services (documented in each ``event_service.proto``)."""

CURSOR_EXPIRED = "CURSOR_EXPIRED"
