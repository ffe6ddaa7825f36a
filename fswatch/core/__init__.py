"""The core: values and pure rules, no I/O — alerts, deadline, errors, observation, settings, verdict."""
