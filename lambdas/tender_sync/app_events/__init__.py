"""The app's events start the workflows: `tender/*.requested` events on the stack's bus, from the sources in
eventSources, go through the AppEvents queue to StartRequested, which starts the workflow each names.

events.py: what an event is (its key, the workflow and input it names) and how a batch becomes starts; ledger.py: the
keys already seen, in requested_events; consumer.py: the starts, in order, each batch's tender/enrich.requested
events gathered into single-tender runs that go one at a time."""
