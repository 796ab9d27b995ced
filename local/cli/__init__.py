"""The command line (`make cli`): start any workflow, list runs, show a timeline or the sync state, locally or
against a deployed stack."""
