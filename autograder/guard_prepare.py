"""Imported last by a sandboxed fork server (see `Sandbox.fork_server_options`): records the
preloaded libraries for the tamper guard once, before any kernel is forked (`guard.prepare`)."""

from autograder import guard

guard.prepare()
