"""Imported last by a sandboxed fork server (see `Sandbox.fork_server_options`): records the
preloaded libraries for the tamper guard once, before any kernel is forked (`guard_kernel.prepare`)."""

from autograder.engine import guard_kernel

guard_kernel.prepare()
