"""The click layer: parse options, call a service, render output, map errors to exit codes."""
