"""Behaviour cloning, outside the bridge runtime: scripted-expert demonstrations with rendered
frames (`python -m bc.demos`) and the training of the vision chunk policy on them
(`python -m bc.train`); the trained policy runs as a base through `bridge.bc_policy`."""
